// Package prices loads billrun's price book from YAML (DESIGN §4) into a validated rating.PriceBook.
package prices

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

	"billrun/internal/yamlnode"
	"billrun/rating"
)

// Load reads and validates the price book at path. It returns the book and the hex SHA-256 of the file's
// content, which run records keep so every invoice can be traced to the exact prices used.
func Load(path string) (*rating.PriceBook, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("price book: %w", err)
	}
	pb, err := Parse(data)
	if err != nil {
		return nil, "", fmt.Errorf("price book %s: %w", path, err)
	}
	sum := sha256.Sum256(data)
	return pb, hex.EncodeToString(sum[:]), nil
}

// Parse decodes and validates a price book. Unknown keys are errors, so a typo never drops a price.
func Parse(data []byte) (*rating.PriceBook, error) {
	var root yaml.Node
	docs := yaml.NewDecoder(bytes.NewReader(data))
	if err := docs.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if root.Kind == 0 {
		return nil, errors.New("the file is empty: a price book needs a currency and versions")
	}
	// The decoder reads the first document only: versions in a second one, after ---, would be lost
	// without a word. An empty one (a trailing ---) is harmless.
	for {
		var next yaml.Node
		if err := docs.Decode(&next); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		if len(next.Content) > 0 && !yamlnode.IsNull(next.Content[0]) {
			return nil, fmt.Errorf("line %d: a second document, after --- on line %d: want the whole price book in one document",
				next.Content[0].Line, next.Line)
		}
	}
	c := checker{done: map[checked]bool{}}
	if err := c.book(&root); err != nil {
		return nil, err
	}
	var pb rating.PriceBook
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&pb); err != nil {
		return nil, err
	}
	if err := pb.Validate(); err != nil {
		return nil, err
	}
	return &pb, nil
}

// kind is what a price book field holds, for the checks made before decoding.
type kind int

const (
	money    kind = iota // a decimal string that must be there: a price, multiplier, percent or limit
	optMoney             // a decimal string that may be null or left out: no cached price of its own
	price                // a decimal that must be there and not null, a number or a string: a size, GPU-hours
	bound                // a decimal that may be null or left out, a number or a string: no size limit
	required             // any value but null, its type checked by the decoder (a tier's number)
	flag                 // a YAML boolean (true or false, unquoted), false when left out: moe
	free                 // checked by the decoder alone (a bucket's name)
)

// mustBeThere reports whether a field of kind k must be given (not left out, not null).
func (k kind) mustBeThere() bool { return k == money || k == price || k == required }

// decimalString reports whether a field of kind k is money, written as a decimal string (DESIGN §11).
func (k kind) decimalString() bool { return k == money || k == optMoney }

// rule is the range a decimal field's value must be in.
type rule int

const (
	nonNegative rule = iota // prices, multipliers, thresholds and limits: 0 or more
	positive                // sizes: params_b, max_params_b
	percentage              // a percent: 0 to 100
)

type field struct {
	key  string
	kind kind
	rule rule
}

// record is one kind of entry of the price book, with its fields in the order they are checked.
type record struct {
	name   string
	fields []field
}

var (
	serverlessBucket = record{"serverless bucket", []field{
		{"name", free, 0}, {"moe", flag, 0}, {"max_params_b", bound, positive}, {"input", money, nonNegative},
		{"output", money, nonNegative}}}
	modelPrice = record{"model price", []field{
		{"input", money, nonNegative}, {"cached_input", optMoney, nonNegative}, {"output", money, nonNegative}}}
	volumeTier       = record{"volume tier", []field{{"min_gpu_hours", price, nonNegative}, {"percent", money, percentage}}}
	fineTuningBucket = record{"fine-tuning bucket", []field{{"max_params_b", bound, positive}, {"price", money, nonNegative}}}
	policyTier       = record{"policy tier", []field{
		{"tier", required, 0}, {"min_historical_spend", money, nonNegative}, {"spend_limit", money, nonNegative}}}
	catalogModel = record{"catalog model", []field{{"params_b", price, positive}, {"moe", flag, 0}}}
)

// The keys of the price book's mappings that are not records, in the order messages list them.
var (
	bookKeys       = []string{"currency", "versions", "models", "policy"}
	versionKeys    = []string{"effective_from", "serverless", "gpu_hour", "gpu_volume_discounts", "fine_tuning"}
	serverlessKeys = []string{"default_cached_input_multiplier", "batch_multiplier", "buckets", "models"}
	fineTuningKeys = []string{"buckets", "method_multipliers"}
	methodKeys     = []string{"lora_sft", "lora_dpo", "full_sft", "full_dpo"}
	policyKeys     = []string{"payment_terms_days", "tiers"}
)

// checked is a node already checked as what. Through aliases one node can stand in many places;
// checking it once keeps the walk linear in the file's size.
type checked struct {
	n    *yaml.Node
	what string
}

// checker walks the price book's node tree by its schema before it is decoded, so that each problem is
// named with its line and field. Left out or null, a price would decode as 0 and bill its usage at 0.00
// (DESIGN §11: a product with no price is a no_price reject, never free), so every price is required
// and must not be null however it is spelled: null, ~, nothing after the key, or an alias to one. Values
// are read as the decoder reads them: through aliases (*name) and merge keys (<<). Shapes the schema
// does not expect (a list where a mapping belongs) are left to the decoder, which names them.
type checker struct {
	done map[checked]bool
}

// checkKeys refuses a key of es that allowed lacks: the decoder would name it only by the Go type it
// is decoded into, not by its place in the book.
func checkKeys(es []entry, at string, allowed []string) error {
	for _, e := range es {
		if !slices.Contains(allowed, e.key) {
			return fmt.Errorf("line %d: %s: unknown key, want one of %s", e.keyLine, join(at, e.key), strings.Join(allowed, ", "))
		}
	}
	return nil
}

// join returns the path of key under at: "versions[0].gpu_hour", or key alone at the top.
func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

// decimalOf returns the decimal value n (through an alias) holds, and whether it holds one.
func decimalOf(n *yaml.Node) (decimal.Decimal, bool) {
	v := yamlnode.Resolve(n)
	if v == nil || v.Kind != yaml.ScalarNode || yamlnode.IsNull(v) {
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(v.Value)
	return d, err == nil
}

// once reports whether resolved node n is yet to be checked as what, and marks it checked.
func (c *checker) once(n *yaml.Node, what string) bool {
	k := checked{n, what}
	if c.done[k] {
		return false
	}
	c.done[k] = true
	return true
}

// entry is one key and its value as written: an alias keeps the line where it is used.
type entry struct {
	key     string
	keyLine int
	val     *yaml.Node
}

// entries returns the key-value pairs of mapping n (resolved) as the decoder reads them: its own, then
// those of the mappings merged in with <<, aliases followed. A key may come more than once (its own
// value and merged ones); every value is checked, whichever the decoder keeps.
func entries(n *yaml.Node) []entry {
	var out []entry
	seen := map[*yaml.Node]bool{}
	var walk func(m *yaml.Node)
	walk = func(m *yaml.Node) {
		m = yamlnode.Resolve(m)
		if m == nil || m.Kind != yaml.MappingNode || seen[m] {
			return // the decoder refuses a merge of anything but mappings
		}
		seen[m] = true
		var merges []*yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := yamlnode.Resolve(m.Content[i]), m.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				merges = append(merges, v)
				continue
			}
			out = append(out, entry{k.Value, m.Content[i].Line, v})
		}
		for _, v := range merges {
			if r := yamlnode.Resolve(v); r.Kind == yaml.SequenceNode {
				for _, x := range r.Content {
					walk(x)
				}
				continue
			}
			walk(v)
		}
	}
	walk(n)
	return out
}

// values returns the values es holds for key.
func values(es []entry, key string) []*yaml.Node {
	var vs []*yaml.Node
	for _, e := range es {
		if e.key == key {
			vs = append(vs, e.val)
		}
	}
	return vs
}

// mapping returns the entries of n if it is a mapping (through an alias) not yet checked as what; ok is
// false for anything else: null (nothing listed), another shape (the decoder names it), or done.
func (c *checker) mapping(n *yaml.Node, what string) (es []entry, ok bool) {
	r := yamlnode.Resolve(n)
	if r == nil || r.Kind != yaml.MappingNode || !c.once(r, what) {
		return nil, false
	}
	return entries(r), true
}

// via describes the alias n is, for messages: the problem is then at the anchor's line.
// plainDate reports whether n is an unquoted date such as 2026-09-01: YAML's timestamp, which is
// midnight UTC of that day, as the accounts file's contract dates are.
func plainDate(n *yaml.Node) bool {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 || n.ShortTag() != "!!timestamp" {
		return false
	}
	_, err := time.Parse(time.DateOnly, n.Value)
	return err == nil
}

func via(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return fmt.Sprintf(" (through the alias *%s to line %d)", n.Value, n.Alias.Line)
	}
	return ""
}

// book checks the document: versions, the model catalog and the policy.
func (c *checker) book(root *yaml.Node) error {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	es, _ := c.mapping(doc, "book")
	if err := checkKeys(es, "", bookKeys); err != nil {
		return err
	}
	for _, e := range es {
		var err error
		switch e.key {
		case "currency":
			// DESIGN §5: one currency per price book, and billrun bills in USD only.
			if v := yamlnode.Resolve(e.val); v.Kind == yaml.ScalarNode && !yamlnode.IsNull(v) && v.Value != "USD" {
				err = fmt.Errorf("line %d: currency: %q: only USD is supported%s", e.val.Line, v.Value, via(e.val))
			}
		case "versions":
			err = c.items(e.val, "versions", "effective_from and its prices", c.version)
			if err == nil {
				err = distinctStarts(e.val)
			}
		case "models":
			err = c.records(e.val, "models", catalogModel)
		case "policy":
			err = c.policy(e.val)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// version checks one version's date and its prices.
func (c *checker) version(n *yaml.Node, at string) error {
	es, ok := c.mapping(n, "version")
	if !ok {
		return nil
	}
	if err := checkKeys(es, at, versionKeys); err != nil {
		return err
	}
	for _, e := range es {
		var err error
		switch e.key {
		case "effective_from":
			if ef := yamlnode.Resolve(e.val); ef.Kind == yaml.ScalarNode && !yamlnode.IsNull(ef) {
				// time.Parse for the upper-case T and Z the decoder takes, ParseRFC3339 for RFC 3339's
				// syntax and offsets (time.Parse alone takes +24:00, a day off).
				_, perr := time.Parse(time.RFC3339Nano, ef.Value)
				if perr == nil {
					_, perr = rating.ParseRFC3339(ef.Value)
				}
				if perr != nil && !plainDate(ef) {
					err = fmt.Errorf("line %d: %s.effective_from: %q is not an RFC 3339 time like 2026-09-01T00:00:00Z%s",
						e.val.Line, at, ef.Value, via(e.val))
				}
			}
		case "serverless":
			err = c.serverless(e.val, at+".serverless")
		case "gpu_hour":
			err = c.prices(e.val, at+".gpu_hour", nil)
		case "gpu_volume_discounts":
			err = c.list(e.val, at+".gpu_volume_discounts", volumeTier)
			if err == nil {
				err = checkVolumeTiers(e.val, at+".gpu_volume_discounts")
			}
		case "fine_tuning":
			if ft, ok := c.mapping(e.val, "fine_tuning"); ok {
				err = checkKeys(ft, at+".fine_tuning", fineTuningKeys)
				for _, f := range ft {
					if err != nil {
						break
					}
					switch f.key {
					case "buckets":
						err = c.list(f.val, at+".fine_tuning.buckets", fineTuningBucket)
					case "method_multipliers":
						err = c.prices(f.val, at+".fine_tuning.method_multipliers", methodKeys)
					}
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// serverless checks a version's serverless prices. A version may price no serverless usage at all (its
// usage is then no_price); one with buckets or models needs its multipliers.
func (c *checker) serverless(n *yaml.Node, at string) error {
	es, ok := c.mapping(n, "serverless")
	if !ok {
		return nil
	}
	if err := checkKeys(es, at, serverlessKeys); err != nil {
		return err
	}
	priced := len(values(es, "buckets")) > 0 || len(values(es, "models")) > 0
	for _, k := range []string{"default_cached_input_multiplier", "batch_multiplier"} {
		vs := values(es, k)
		if len(vs) == 0 && priced {
			return fmt.Errorf("line %d: %s: %s is required%s", n.Line, at, k, via(n))
		}
		for _, v := range vs {
			if err := checkValue(v, at+"."+k, money, nonNegative); err != nil {
				return err
			}
		}
	}
	for _, v := range values(es, "buckets") {
		if err := c.list(v, at+".buckets", serverlessBucket); err != nil {
			return err
		}
	}
	for _, v := range values(es, "models") {
		if err := c.records(v, at+".models", modelPrice); err != nil {
			return err
		}
	}
	return nil
}

// prices checks a mapping of names to prices (gpu_hour, method_multipliers): each must be a decimal of
// 0 or more; when keys is set, the names must be among them.
func (c *checker) prices(n *yaml.Node, at string, keys []string) error {
	es, _ := c.mapping(n, "prices")
	if keys != nil {
		if err := checkKeys(es, at, keys); err != nil {
			return err
		}
	}
	for _, e := range es {
		if err := checkValue(e.val, at+"."+e.key, money, nonNegative); err != nil {
			return err
		}
	}
	return nil
}

// records checks a mapping of names to entries of r (explicit model prices, the catalog). A null entry
// is refused: decoded, it would be an entry with every price 0.
func (c *checker) records(n *yaml.Node, at string, r record) error {
	es, _ := c.mapping(n, "records: "+r.name)
	for _, e := range es {
		where := at + "." + e.key
		if yamlnode.IsNull(yamlnode.Resolve(e.val)) {
			return fmt.Errorf("line %d: %s: the entry is null%s: give it %s, or leave it out", e.val.Line, where, via(e.val), r.needs())
		}
		if err := c.record(e.val, where, r); err != nil {
			return err
		}
	}
	return nil
}

// list checks a list of entries of r (buckets, tiers).
func (c *checker) list(n *yaml.Node, at string, r record) error {
	return c.items(n, at, r.needs(), func(item *yaml.Node, at string) error { return c.record(item, at, r) })
}

// items checks each item of list n with check. A null item is refused: the decoder drops it without a
// word, so a bucket, tier or version written as - ~ (or - with nothing after it) would be lost.
func (c *checker) items(n *yaml.Node, at, needs string, check func(item *yaml.Node, at string) error) error {
	seq := yamlnode.Resolve(n)
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	for i, item := range seq.Content {
		where := fmt.Sprintf("%s[%d]", at, i)
		if yamlnode.IsNull(yamlnode.Resolve(item)) {
			return fmt.Errorf("line %d: %s: a null item in the list %s%s: give it %s, or remove it", item.Line, where, at, via(item), needs)
		}
		if err := check(item, where); err != nil {
			return err
		}
	}
	return nil
}

// record checks one entry of r: its required fields are there, and every value is of its kind.
func (c *checker) record(n *yaml.Node, at string, r record) error {
	es, ok := c.mapping(n, r.name)
	if !ok {
		return nil
	}
	for _, f := range r.fields {
		vs := values(es, f.key)
		if len(vs) == 0 && (f.kind.mustBeThere()) {
			return fmt.Errorf("line %d: %s: %s is required%s", n.Line, at, f.key, via(n))
		}
		for _, v := range vs {
			if err := checkValue(v, at+"."+f.key, f.kind, f.rule); err != nil {
				return err
			}
		}
	}
	keys := make([]string, len(r.fields))
	for i, f := range r.fields {
		keys[i] = f.key
	}
	return checkKeys(es, at, keys)
}

// needs lists r's required fields, for messages: "input and output".
func (r record) needs() string {
	var ks []string
	for _, f := range r.fields {
		if f.kind.mustBeThere() {
			ks = append(ks, f.key)
		}
	}
	if len(ks) < 2 {
		return strings.Join(ks, "")
	}
	return strings.Join(ks[:len(ks)-1], ", ") + " and " + ks[len(ks)-1]
}

// checkValue checks value n (as written, at its line) of field at against its kind, through an alias.
func checkValue(n *yaml.Node, at string, k kind, r rule) error {
	v := yamlnode.Resolve(n)
	switch k {
	case money, optMoney, price, bound:
		if yamlnode.IsNull(v) {
			if !k.mustBeThere() {
				return nil
			}
			return fmt.Errorf("line %d: %s: a number is required, not null%s (read as 0, it would bill at 0.00)", n.Line, at, via(n))
		}
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s: a decimal number is required, not a %s%s", n.Line, at, shape(v), via(n))
		}
		// Money, multipliers and percents are decimal strings (DESIGN §4, §11): a YAML number is
		// refused rather than read, as in the accounts file.
		if t := v.ShortTag(); k.decimalString() && (t == "!!int" || t == "!!float") {
			return fmt.Errorf("line %d: %s: write it as a decimal string like \"0.20\" (quoted), not the number %s%s", n.Line, at, v.Value, via(n))
		}
		d, err := decimal.NewFromString(v.Value)
		if err != nil {
			return fmt.Errorf("line %d: %s: %q is not a decimal number%s (write prices as strings like \"0.20\")", n.Line, at, v.Value, via(n))
		}
		switch {
		case r == positive && !d.IsPositive():
			return fmt.Errorf("line %d: %s: must be positive, got %q%s", n.Line, at, v.Value, via(n))
		case d.IsNegative():
			return fmt.Errorf("line %d: %s: must not be negative, got %q%s", n.Line, at, v.Value, via(n))
		case r == percentage && d.GreaterThan(decimal.NewFromInt(100)):
			return fmt.Errorf("line %d: %s: a percent must be between 0 and 100, got %q%s", n.Line, at, v.Value, via(n))
		}
	case required:
		if yamlnode.IsNull(v) {
			return fmt.Errorf("line %d: %s: a value is required, not null%s", n.Line, at, via(n))
		}
	case flag:
		// The decoder would read null as false and the strings "yes", "no", "on", "off" (quoted or not)
		// as YAML 1.1 booleans; a null moe would price an MoE model as dense.
		if yamlnode.IsNull(v) {
			return fmt.Errorf("line %d: %s: true or false is required, not null%s (leave moe out for a dense model)", n.Line, at, via(n))
		}
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s: true or false is required, not a %s%s", n.Line, at, shape(v), via(n))
		}
		if v.Tag != "!!bool" {
			return fmt.Errorf("line %d: %s: %q is not a boolean%s: write true or false, unquoted", n.Line, at, v.Value, via(n))
		}
	}
	return nil
}

// shape names a node's kind for messages.
func shape(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}

// policy checks the spend-limit tiers; payment_terms_days, when given, must be a whole number of days.
func (c *checker) policy(n *yaml.Node) error {
	es, _ := c.mapping(n, "policy")
	if err := checkKeys(es, "policy", policyKeys); err != nil {
		return err
	}
	for _, e := range es {
		switch e.key {
		case "tiers":
			if err := c.list(e.val, "policy.tiers", policyTier); err != nil {
				return err
			}
			if err := distinctTiers(e.val); err != nil {
				return err
			}
		case "payment_terms_days":
			t := yamlnode.Resolve(e.val)
			if !yamlnode.IsNull(t) && t.Tag != "!!int" {
				return fmt.Errorf("line %d: policy.payment_terms_days: %q is not a whole number of days%s", e.val.Line, t.Value, via(e.val))
			}
			if strings.HasPrefix(t.Value, "-") && t.Tag == "!!int" {
				return fmt.Errorf("line %d: policy.payment_terms_days: must not be negative, got %s%s", e.val.Line, t.Value, via(e.val))
			}
		}
	}
	return nil
}

// first returns the value of key in mapping n (through aliases and merges) as the decoder keeps it:
// its own value before a merged one. Nil when n has no key.
func first(n *yaml.Node, key string) *yaml.Node {
	if vs := values(entries(n), key); len(vs) > 0 {
		return vs[0]
	}
	return nil
}

// distinctStarts refuses two versions that start at the same time: which one usage at that time is
// priced by would depend on their order in the file.
func distinctStarts(n *yaml.Node) error {
	seq := yamlnode.Resolve(n)
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	seen := map[time.Time]int{}
	for i, item := range seq.Content {
		v := first(item, "effective_from")
		if v == nil {
			continue
		}
		var t time.Time
		if err := yamlnode.Resolve(v).Decode(&t); err != nil {
			continue // the decoder names it
		}
		t = t.UTC()
		if line, ok := seen[t]; ok {
			return fmt.Errorf("line %d: versions[%d].effective_from: %s is also the start of the version on line %d: want one version per start",
				v.Line, i, t.Format(time.RFC3339), line)
		}
		seen[t] = v.Line
	}
	return nil
}

// checkVolumeTiers refuses volume tiers that share a threshold, or where a tier with more GPU-hours
// gives a smaller percent than one with fewer: the percent is that of the tier reached (DESIGN §6), and
// with a threshold listed twice, or a higher one giving less, which tier that is would be a guess — a
// typo would change every heavy GPU account's discount without a word. The tiers may be listed in any
// order: they are compared by threshold.
func checkVolumeTiers(n *yaml.Node, at string) error {
	seq := yamlnode.Resolve(n)
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	type tier struct {
		i, line, percentLine int
		hours, percent       decimal.Decimal
	}
	var tiers []tier
	for i, item := range seq.Content {
		hv, pv := first(item, "min_gpu_hours"), first(item, "percent")
		hours, ok1 := decimalOf(hv)
		percent, ok2 := decimalOf(pv)
		if !ok1 || !ok2 {
			continue // refused by the record check already
		}
		tiers = append(tiers, tier{i, hv.Line, pv.Line, hours, percent})
	}
	slices.SortStableFunc(tiers, func(a, b tier) int { return a.hours.Cmp(b.hours) })
	for k := 1; k < len(tiers); k++ {
		lo, hi := tiers[k-1], tiers[k]
		if hi.hours.Equal(lo.hours) {
			return fmt.Errorf("line %d: %s[%d].min_gpu_hours: %s is also the threshold of %s[%d] (line %d): list each threshold once",
				hi.line, at, hi.i, hi.hours, at, lo.i, lo.line)
		}
		if hi.percent.LessThan(lo.percent) {
			return fmt.Errorf("line %d: %s[%d].percent: %s at %s GPU-hours is below the %s of %s[%d] at %s (line %d), which is reached first: a tier with more GPU-hours must not give a smaller discount",
				hi.percentLine, at, hi.i, hi.percent, hi.hours, lo.percent, at, lo.i, lo.hours, lo.percentLine)
		}
	}
	return nil
}

// distinctTiers refuses a policy tier numbered below 1 or listed twice, with its line.
func distinctTiers(n *yaml.Node) error {
	seq := yamlnode.Resolve(n)
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	seen := map[int]int{}
	for i, item := range seq.Content {
		v := first(item, "tier")
		var tier int
		if v == nil || yamlnode.Resolve(v).Decode(&tier) != nil {
			continue // refused by the record check, or named by the decoder
		}
		if tier < 1 {
			return fmt.Errorf("line %d: policy.tiers[%d].tier: %d: tiers are numbered from 1", v.Line, i, tier)
		}
		if line, ok := seen[tier]; ok {
			return fmt.Errorf("line %d: policy.tiers[%d].tier: tier %d is listed twice, first on line %d", v.Line, i, tier, line)
		}
		seen[tier] = v.Line
	}
	return nil
}
