package rating

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// PriceBook is the versioned price list of DESIGN §4: versions chosen by usage time, the model catalog
// and the account policy. Field tags describe the YAML form read by rating/prices.
type PriceBook struct {
	Currency string               `yaml:"currency"`
	Versions []Version            `yaml:"versions"`
	Models   map[string]ModelInfo `yaml:"models"`
	Policy   Policy               `yaml:"policy"`
}

// Version is one complete set of prices, in effect from EffectiveFrom until the next version starts.
type Version struct {
	EffectiveFrom      time.Time                  `yaml:"effective_from"`
	Serverless         ServerlessPrices           `yaml:"serverless"`
	GPUHour            map[string]decimal.Decimal `yaml:"gpu_hour"`
	GPUVolumeDiscounts []VolumeTier               `yaml:"gpu_volume_discounts"`
	FineTuning         FineTuningPrices           `yaml:"fine_tuning"`
}

// ServerlessPrices are per-1M-token prices of serverless inference.
type ServerlessPrices struct {
	DefaultCachedInputMultiplier decimal.Decimal       `yaml:"default_cached_input_multiplier"`
	BatchMultiplier              decimal.Decimal       `yaml:"batch_multiplier"`
	Buckets                      []ServerlessBucket    `yaml:"buckets"`
	Models                       map[string]ModelPrice `yaml:"models"`
}

// ServerlessBucket prices models without prices of their own by size. MaxParamsB nil means unbounded.
type ServerlessBucket struct {
	Name       string           `yaml:"name"`
	MoE        bool             `yaml:"moe"`
	MaxParamsB *decimal.Decimal `yaml:"max_params_b"`
	Input      decimal.Decimal  `yaml:"input"`
	Output     decimal.Decimal  `yaml:"output"`
}

// ModelPrice is an explicit per-model price. CachedInput nil means Input × the default multiplier.
type ModelPrice struct {
	Input       decimal.Decimal  `yaml:"input"`
	CachedInput *decimal.Decimal `yaml:"cached_input"`
	Output      decimal.Decimal  `yaml:"output"`
}

// VolumeTier is a bulk on-demand discount reached at MinGPUHours GPU-hours in a period.
type VolumeTier struct {
	MinGPUHours decimal.Decimal `yaml:"min_gpu_hours"`
	Percent     decimal.Decimal `yaml:"percent"`
}

// FineTuningPrices are per-1M-training-token prices by base-model size, times a method multiplier.
type FineTuningPrices struct {
	Buckets           []FineTuningBucket         `yaml:"buckets"`
	MethodMultipliers map[string]decimal.Decimal `yaml:"method_multipliers"`
}

// FineTuningBucket is a fine-tuning price for base models up to MaxParamsB (inclusive; nil: unbounded).
type FineTuningBucket struct {
	MaxParamsB *decimal.Decimal `yaml:"max_params_b"`
	Price      decimal.Decimal  `yaml:"price"`
}

// ModelInfo is a catalog entry: a base model's total size in billions of parameters and architecture.
type ModelInfo struct {
	ParamsB decimal.Decimal `yaml:"params_b"`
	MoE     bool            `yaml:"moe"`
}

// Policy holds payment terms and the spend-limit tiers of DESIGN §7.
type Policy struct {
	// PaymentTermsDays is the days from issue to due date; Validate sets it from the YAML value, or 15
	// when the price book leaves it out.
	PaymentTermsDays int    `yaml:"-"`
	TermsDays        *int   `yaml:"payment_terms_days"`
	Tiers            []Tier `yaml:"tiers"`
}

// Tier is a spend-limit tier reached at MinHistoricalSpend.
type Tier struct {
	Tier               int             `yaml:"tier"`
	MinHistoricalSpend decimal.Decimal `yaml:"min_historical_spend"`
	SpendLimit         decimal.Decimal `yaml:"spend_limit"`
}

// DefaultPolicy returns the policy of DESIGN §7, used where the price book has none.
func DefaultPolicy() Policy {
	d := decimal.RequireFromString
	return Policy{PaymentTermsDays: 15, Tiers: []Tier{
		{Tier: 1, MinHistoricalSpend: d("0"), SpendLimit: d("50")},
		{Tier: 2, MinHistoricalSpend: d("100"), SpendLimit: d("500")},
		{Tier: 3, MinHistoricalSpend: d("1000"), SpendLimit: d("5000")},
		{Tier: 4, MinHistoricalSpend: d("10000"), SpendLimit: d("50000")},
	}}
}

// Validate checks the price book and normalizes it: versions sorted by EffectiveFrom, times in UTC,
// defaults applied. It returns an error naming the first problem found.
func (pb *PriceBook) Validate() error {
	if pb.Currency == "" {
		pb.Currency = "USD"
	}
	if pb.Currency != "USD" {
		return fmt.Errorf("price book: currency %q: only USD is supported", pb.Currency)
	}
	if len(pb.Versions) == 0 {
		return errors.New("price book: no versions")
	}
	for i := range pb.Versions {
		pb.Versions[i].EffectiveFrom = pb.Versions[i].EffectiveFrom.UTC()
	}
	sort.SliceStable(pb.Versions, func(i, j int) bool {
		return pb.Versions[i].EffectiveFrom.Before(pb.Versions[j].EffectiveFrom)
	})
	for i, v := range pb.Versions {
		name := fmt.Sprintf("price book: version %s", v.EffectiveFrom.Format(time.RFC3339))
		if v.EffectiveFrom.IsZero() {
			return fmt.Errorf("price book: version %d: effective_from is required", i+1)
		}
		if i > 0 && v.EffectiveFrom.Equal(pb.Versions[i-1].EffectiveFrom) {
			return fmt.Errorf("%s: two versions start at the same time", name)
		}
		if err := v.validate(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	for name, m := range pb.Models {
		if !m.ParamsB.IsPositive() {
			return fmt.Errorf("price book: model %s: params_b must be positive", name)
		}
	}
	pb.Policy.PaymentTermsDays = DefaultPolicy().PaymentTermsDays
	if pb.Policy.TermsDays != nil {
		pb.Policy.PaymentTermsDays = *pb.Policy.TermsDays
	}
	if pb.Policy.PaymentTermsDays < 0 {
		return errors.New("price book: policy: payment_terms_days must not be negative")
	}
	if len(pb.Policy.Tiers) == 0 {
		pb.Policy.Tiers = DefaultPolicy().Tiers
	}
	tiers := map[int]bool{}
	for _, t := range pb.Policy.Tiers {
		switch {
		case t.Tier < 1:
			return fmt.Errorf("price book: policy: tier %d: tiers are numbered from 1", t.Tier)
		case tiers[t.Tier]:
			return fmt.Errorf("price book: policy: tier %d is listed twice", t.Tier)
		case t.MinHistoricalSpend.IsNegative() || t.SpendLimit.IsNegative():
			return fmt.Errorf("price book: policy: tier %d: min_historical_spend and spend_limit must not be negative", t.Tier)
		}
		tiers[t.Tier] = true
	}
	sort.SliceStable(pb.Policy.Tiers, func(i, j int) bool {
		return pb.Policy.Tiers[i].MinHistoricalSpend.LessThan(pb.Policy.Tiers[j].MinHistoricalSpend)
	})
	return nil
}

func (v *Version) validate() error {
	s := &v.Serverless
	if s.DefaultCachedInputMultiplier.IsZero() && s.BatchMultiplier.IsZero() && len(s.Buckets) == 0 && len(s.Models) == 0 {
		// A version with no serverless prices at all is allowed: its serverless usage is no_price.
	} else {
		// Both multipliers are given (the file's checker refuses one left out or null); 0 is a price
		// like any other — batch tokens free — as a 0 bucket or model price is.
		if s.DefaultCachedInputMultiplier.IsNegative() || s.BatchMultiplier.IsNegative() {
			return errors.New("serverless: multipliers must not be negative")
		}
	}
	for _, b := range s.Buckets {
		if b.Input.IsNegative() || b.Output.IsNegative() {
			return fmt.Errorf("serverless bucket %q: negative price", b.Name)
		}
		if b.MaxParamsB != nil && !b.MaxParamsB.IsPositive() {
			return fmt.Errorf("serverless bucket %q: max_params_b must be positive", b.Name)
		}
	}
	for i, b := range v.FineTuning.Buckets {
		if b.Price.IsNegative() {
			return fmt.Errorf("fine_tuning bucket %d: negative price", i+1)
		}
		if b.MaxParamsB != nil && !b.MaxParamsB.IsPositive() {
			return fmt.Errorf("fine_tuning bucket %d: max_params_b must be positive", i+1)
		}
	}
	for name, p := range s.Models {
		if p.Input.IsNegative() || p.Output.IsNegative() || (p.CachedInput != nil && p.CachedInput.IsNegative()) {
			return fmt.Errorf("serverless model %s: negative price", name)
		}
	}
	for g, p := range v.GPUHour {
		if p.IsNegative() {
			return fmt.Errorf("gpu_hour %s: negative price", g)
		}
	}
	for _, t := range v.GPUVolumeDiscounts {
		if t.Percent.IsNegative() || t.Percent.GreaterThan(decimal.NewFromInt(100)) {
			return fmt.Errorf("gpu_volume_discounts: percent %s out of 0..100", t.Percent)
		}
		if t.MinGPUHours.IsNegative() {
			return fmt.Errorf("gpu_volume_discounts: min_gpu_hours %s must not be negative", t.MinGPUHours)
		}
	}
	for m, x := range v.FineTuning.MethodMultipliers {
		if !IsFineTuningMethod(m) {
			return fmt.Errorf("fine_tuning: unknown method %q", m)
		}
		if x.IsNegative() {
			return fmt.Errorf("fine_tuning: method %s: negative multiplier", m)
		}
	}
	return nil
}

// VersionAt returns the index of the version in effect at t, or -1 before the first version.
func (pb *PriceBook) VersionAt(t time.Time) int {
	idx := -1
	for i := range pb.Versions {
		if !pb.Versions[i].EffectiveFrom.After(t) {
			idx = i
		}
	}
	return idx
}

// VersionEnd returns the first instant after version i (the next version's start), or the zero time
// for the last version.
func (pb *PriceBook) VersionEnd(i int) time.Time {
	if i+1 < len(pb.Versions) {
		return pb.Versions[i+1].EffectiveFrom
	}
	return time.Time{}
}

// ServerlessRates are the per-1M-token unit prices of one model, before the batch multiplier.
type ServerlessRates struct {
	Input, CachedInput, Output decimal.Decimal
	BatchMultiplier            decimal.Decimal
	PricedAs                   string // the model whose prices apply (the base model of a fine-tuned one)
}

// ServerlessRates resolves the prices of model in version i. A fine-tuned model (baseModel set) is
// priced exactly as its base. It returns ErrNoPrice, wrapped with the model named, when neither an
// explicit price nor a bucket applies.
func (pb *PriceBook) ServerlessRates(i int, model, baseModel string) (ServerlessRates, error) {
	priced := model
	if baseModel != "" {
		priced = baseModel
	}
	v := &pb.Versions[i]
	s := &v.Serverless
	r := ServerlessRates{BatchMultiplier: s.BatchMultiplier, PricedAs: priced}
	if p, ok := s.Models[priced]; ok {
		r.Input, r.Output = p.Input, p.Output
		if p.CachedInput != nil {
			r.CachedInput = *p.CachedInput
		} else {
			r.CachedInput = p.Input.Mul(s.DefaultCachedInputMultiplier)
		}
		return r, nil
	}
	info, ok := pb.Models[priced]
	if !ok {
		return r, fmt.Errorf("%w: model %s is not in the catalog%s", ErrNoPrice, priced, viaBase(model, baseModel))
	}
	for _, b := range s.Buckets {
		if b.MoE != info.MoE {
			continue
		}
		if b.MaxParamsB != nil && info.ParamsB.GreaterThan(*b.MaxParamsB) {
			continue
		}
		r.Input, r.Output = b.Input, b.Output
		r.CachedInput = b.Input.Mul(s.DefaultCachedInputMultiplier)
		return r, nil
	}
	return r, fmt.Errorf("%w: no serverless price or bucket for model %s (%sB%s) in version %s%s", ErrNoPrice,
		priced, info.ParamsB, moeSuffix(info.MoE), v.EffectiveFrom.Format("2006-01-02"), viaBase(model, baseModel))
}

func viaBase(model, base string) string {
	if base == "" || base == model {
		return ""
	}
	return " (base of " + model + ")"
}

func moeSuffix(moe bool) string {
	if moe {
		return ", MoE"
	}
	return ""
}

// GPURate returns the per-GPU-hour price of gpuType in version i, or ErrNoPrice.
func (pb *PriceBook) GPURate(i int, gpuType string) (decimal.Decimal, error) {
	v := &pb.Versions[i]
	p, ok := v.GPUHour[gpuType]
	if !ok {
		return decimal.Zero, fmt.Errorf("%w: GPU type %s has no price in version %s", ErrNoPrice, gpuType,
			v.EffectiveFrom.Format("2006-01-02"))
	}
	return p, nil
}

// FineTuningRate returns the per-1M-training-token price of fine-tuning baseModel with method in version
// i: the bucket price of the base model's size times the method multiplier. It returns ErrNoPrice when the
// base model is not in the catalog, no bucket fits, or the method has no multiplier.
func (pb *PriceBook) FineTuningRate(i int, baseModel, method string) (decimal.Decimal, error) {
	v := &pb.Versions[i]
	info, ok := pb.Models[baseModel]
	if !ok {
		return decimal.Zero, fmt.Errorf("%w: fine-tuning base model %s is not in the catalog", ErrNoPrice, baseModel)
	}
	mult, ok := v.FineTuning.MethodMultipliers[method]
	if !ok {
		return decimal.Zero, fmt.Errorf("%w: fine-tuning method %s has no multiplier in version %s", ErrNoPrice,
			method, v.EffectiveFrom.Format("2006-01-02"))
	}
	for _, b := range v.FineTuning.Buckets {
		if b.MaxParamsB != nil && info.ParamsB.GreaterThan(*b.MaxParamsB) {
			continue
		}
		return b.Price.Mul(mult), nil
	}
	return decimal.Zero, fmt.Errorf("%w: no fine-tuning bucket for base model %s (%sB) in version %s", ErrNoPrice,
		baseModel, info.ParamsB, v.EffectiveFrom.Format("2006-01-02"))
}

// VolumePercent returns the bulk on-demand discount percent that gpuSeconds of GPU usage reach in
// version i (0 when no tier is reached). A tier's GPU-hours are compared as seconds, min_gpu_hours ×
// 3600, which is exact: the hours of a number of seconds need not end (1,200 s is 1/3 h).
func (pb *PriceBook) VolumePercent(i int, gpuSeconds decimal.Decimal) decimal.Decimal {
	best := decimal.Zero
	if i < 0 {
		return best
	}
	for _, t := range pb.Versions[i].GPUVolumeDiscounts {
		if !gpuSeconds.LessThan(t.MinGPUHours.Mul(decimal.NewFromInt(secondsPerGPUHour))) && t.Percent.GreaterThan(best) {
			best = t.Percent
		}
	}
	return best
}

// IsFineTuningMethod reports whether m is one of the fine-tuning methods of DESIGN §3.
func IsFineTuningMethod(m string) bool {
	switch m {
	case "lora_sft", "lora_dpo", "full_sft", "full_dpo":
		return true
	}
	return false
}

// ErrNoPrice is returned when usage has no price in the version in effect (reject code no_price).
var ErrNoPrice = errors.New("no price")
