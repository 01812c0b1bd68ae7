package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"billrun/invoices/store/storetest"
)

// TestPropertyMonthClose generates a small random October 2026 per seed — accounts with and without
// payment method, credit grants and contracts; serverless (base and fine-tuned models, cached, batch),
// GPU intervals crossing both month boundaries and fine-tuning; exact duplicates and bad lines — and
// drives close, rerun and reconcile through run(), checking invariants of DESIGN §3–§9 and §11:
//   - counts: lines = taken (accepted + duplicates) + rejected + lines the period ignores; rejects.csv
//     holds every bad line with its code;
//   - every invoice line equals the line re-derived from the generated events and the price book
//     (quantity, unit price, amount), the discount is the larger of contract and volume tier, and
//     credits follow §6.4 (eligibility, min(subtotal, available));
//   - lines sum to the subtotal, subtotal − credits = amount due ≥ 0, numbers gapless per prefix and
//     year, exactly one effective invoice per account with usage;
//   - close's invoices.json equals the export; the workbook's Summary totals equal the invoices
//     (checkConsistent); reconcile is clean;
//   - a second close, a rerun --dry-run and a rerun with unchanged usage change no document;
//   - after late usage (reconcile exit 4), some payments and a rerun, every account's effective
//     documents sum, line key by line key, to a fresh close of all the usage on an empty database,
//     and reconcile is clean again.
//
// Ten seeds run on SQLite, the first three on PostgreSQL too (a schema each of BILLRUN_TEST_POSTGRES).
func TestPropertyMonthClose(t *testing.T) {
	backends := []struct {
		name  string
		seeds uint64
		db    func(t *testing.T, tmp, name string) string // a new, empty database
	}{
		{"sqlite", 10, func(t *testing.T, tmp, name string) string { return "sqlite:" + filepath.Join(tmp, name+".db") }},
		{"postgres", 3, func(t *testing.T, _, _ string) string { return storetest.PostgresDSN(t) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for seed := uint64(1); seed <= b.seeds; seed++ {
				t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { propertyMonth(t, seed, b.db) })
			}
		})
	}
}

var (
	propStart = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	propEnd   = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// propModels: the fixtures' catalog with each model's input (= output) and cached price per 1M
	// tokens in the version of 2026-09-01, and its fine-tuning bucket price.
	propModels = []struct{ name, in, cached, ft string }{
		{"accounts/fireworks/models/qwen2p5-1p5b-instruct", "0.10", "0.05", "0.50"},
		{"accounts/fireworks/models/llama-v3p2-3b-instruct", "0.10", "0.05", "0.50"},
		{"accounts/fireworks/models/llama-v3p1-8b-instruct", "0.20", "0.10", "0.50"},
		{"accounts/fireworks/models/qwen3-30b-a3b", "0.50", "0.25", "3.00"},
		{"accounts/fireworks/models/llama-v3p1-70b-instruct", "0.90", "0.45", "3.00"},
		{"accounts/fireworks/models/mixtral-8x22b-instruct", "1.20", "0.60", "6.00"},
		{"accounts/fireworks/models/deepseek-v3", "0.90", "0.45", "10.00"},
	}
	propGPU     = map[string]string{"A100-80GB": "2.90", "H100-80GB": "8.00", "H200-141GB": "8.00", "B200-180GB": "13.00"}
	propGPUs    = []string{"A100-80GB", "B200-180GB", "H100-80GB", "H200-141GB"}
	propMethods = []struct{ name, mult string }{{"lora_sft", "1"}, {"lora_dpo", "2"}, {"full_sft", "2"}, {"full_dpo", "4"}}
)

type propGrant struct {
	id               string
	amount           decimal.Decimal
	granted, expires time.Time // expires zero: never
}

type propAccount struct {
	id       string
	payment  bool
	contract string // percent, "" for none
	cFrom    string
	cTo      string
	grants   []propGrant
}

// propLineKey identifies an invoice line (DESIGN §6.1).
type propLineKey struct{ kind, product, deployment, meter, unitPrice string }

// propWorld is the generated month and what it must bill.
type propWorld struct {
	r        *rand.Rand
	usageDir string
	accounts []propAccount
	files    map[string][]string // relative key → lines
	qty      map[string]map[propLineKey]decimal.Decimal
	ids      int
	solo     bool           // events go to objects of their own (solo.jsonl)
	lines    int            // lines written, all objects
	ignored  int            // lines the close of October does not take (next period, previous period)
	taken    int            // good events taken, first copies
	dups     int            // exact copies
	rejects  map[string]int // code → count
}

func (w *propWorld) add(at time.Time, line string) {
	key := fmt.Sprintf("dt=%s/part-%d.jsonl", at.UTC().Format("2006-01-02"), w.r.IntN(2))
	if w.solo {
		key = fmt.Sprintf("dt=%s/solo.jsonl", at.UTC().Format("2006-01-02"))
	}
	w.files[key] = append(w.files[key], line)
	w.lines++
}

func (w *propWorld) bill(acct string, k propLineKey, q decimal.Decimal) {
	if q.IsZero() {
		return
	}
	k.unitPrice = decimal.RequireFromString(k.unitPrice).String()
	if w.qty[acct] == nil {
		w.qty[acct] = map[propLineKey]decimal.Decimal{}
	}
	w.qty[acct][k] = w.qty[acct][k].Add(q)
}

func (w *propWorld) id() string { w.ids++; return fmt.Sprintf("ev-%06d", w.ids) }

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// rfcAny writes t in UTC or, one time in four, with a UTC offset (DESIGN §11: converted to UTC).
func (w *propWorld) rfcAny(t time.Time) string {
	if w.r.IntN(4) == 0 {
		return t.In(time.FixedZone("", (5*60+30)*60)).Format(time.RFC3339Nano)
	}
	return rfc(t)
}

func (w *propWorld) randTime(from, to time.Time) time.Time {
	return from.Add(time.Duration(w.r.Int64N(int64(to.Sub(from)/time.Second))) * time.Second)
}

// event writes one good event of acct at a random time in [from, to) and records what it bills in
// October. It returns the line, for duplicates.
func (w *propWorld) event(acct string, heavy bool, from, to time.Time) string {
	r := w.r
	switch k := r.IntN(10); {
	case heavy || k < 3: // GPU
		gt := propGPUs[r.IntN(len(propGPUs))]
		dep := fmt.Sprintf("dep-%s-%d", acct, r.IntN(2))
		dur := time.Duration(1+r.IntN(3600)) * time.Second
		if r.IntN(4) == 0 {
			dur += 500 * time.Millisecond
		}
		count := 1 + r.IntN(4)
		if heavy {
			dur, count = time.Hour, 8
		}
		start := w.randTime(from, to).Add(-dur / 2)
		switch r.IntN(12) {
		case 0: // crosses into November, reported in dt=2026-11-01
			start = propEnd.Add(-dur / 2)
		case 1: // crosses in from September, reported in dt=2026-10-01
			start = propStart.Add(-dur / 2)
		}
		end := start.Add(dur)
		ts := end.Add(time.Duration(r.IntN(3600)) * time.Second)
		line := fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"gpu","deployment":%q,"gpu_type":%q,"gpu_count":%d,"start":%q,"end":%q}`,
			w.id(), w.rfcAny(ts), acct, dep, gt, count, w.rfcAny(start), w.rfcAny(end))
		s, e := max2(start, propStart), end
		if e.After(propEnd) {
			e = propEnd
		}
		secs := decimal.NewFromInt(e.Sub(s).Nanoseconds()).Div(decimal.NewFromInt(1e9))
		w.bill(acct, propLineKey{"gpu", gt, dep, "gpu_seconds", propGPU[gt]}, secs.Mul(decimal.NewFromInt(int64(count))))
		w.add(ts, line)
		return line
	case k < 5: // fine-tuning: one base model and method per job
		j := r.IntN(3)
		m := propModels[(j*3+len(acct))%len(propModels)]
		meth := propMethods[(j+len(acct))%len(propMethods)]
		tokens, epochs := r.Int64N(3_000_000), 1+r.IntN(3)
		ts := w.randTime(from, to)
		extra := fmt.Sprintf(`,"epochs":%d,"method":%q`, epochs, meth.name)
		if epochs == 1 && meth.name == "lora_sft" && r.IntN(2) == 0 {
			extra = "" // the defaults
		}
		line := fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"fine_tuning","job":"ftj-%s-%d","base_model":%q,"training_tokens":%d%s}`,
			w.id(), w.rfcAny(ts), acct, acct, j, m.name, tokens, extra)
		price := decimal.RequireFromString(m.ft).Mul(decimal.RequireFromString(meth.mult))
		w.bill(acct, propLineKey{"fine_tuning", fmt.Sprintf("ftj-%s-%d", acct, j), "", "training_tokens", price.String()}, decimal.NewFromInt(tokens*int64(epochs)))
		w.add(ts, line)
		return line
	default: // serverless, on a base model or a fine-tuned one priced as its base
		mi := r.IntN(len(propModels))
		m := propModels[mi]
		model, base := m.name, ""
		if r.IntN(3) == 0 {
			model, base = fmt.Sprintf("accounts/%s/models/ft-%d", acct, mi), fmt.Sprintf(`,"base_model":%q`, m.name)
		}
		in := r.Int64N(2_000_000)
		cached := int64(0)
		if r.IntN(2) == 0 {
			cached = r.Int64N(in + 1)
		}
		out := r.Int64N(500_000)
		batch := r.IntN(4) == 0
		ts := w.randTime(from, to)
		line := fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"serverless","model":%q%s,"input_tokens":%d,"cached_input_tokens":%d,"output_tokens":%d,"batch":%t}`,
			w.id(), w.rfcAny(ts), acct, model, base, in, cached, out, batch)
		pre, mult := "", decimal.NewFromInt(1)
		if batch {
			pre, mult = "batch_", decimal.RequireFromString("0.5")
		}
		inP := decimal.RequireFromString(m.in).Mul(mult).String()
		cP := decimal.RequireFromString(m.cached).Mul(mult).String()
		w.bill(acct, propLineKey{"serverless", model, "", pre + "input_tokens", inP}, decimal.NewFromInt(in-cached))
		w.bill(acct, propLineKey{"serverless", model, "", pre + "cached_input_tokens", cP}, decimal.NewFromInt(cached))
		w.bill(acct, propLineKey{"serverless", model, "", pre + "output_tokens", inP}, decimal.NewFromInt(out))
		w.add(ts, line)
		return line
	}
}

func max2(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// bad writes one bad line of a random kind and returns its reject code.
func (w *propWorld) bad(acct string) {
	ts := w.randTime(propStart.Add(24*time.Hour), propEnd.Add(-24*time.Hour))
	id := w.id()
	sl := func(extra string) string {
		return fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"serverless","model":%q%s}`, id, rfc(ts), acct, propModels[2].name, extra)
	}
	gpu := func(start, end, rep time.Time) string {
		return fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"gpu","deployment":"d","gpu_type":"A100-80GB","gpu_count":1,"start":%q,"end":%q}`,
			id, rfc(rep), acct, rfc(start), rfc(end))
	}
	var code string
	switch w.r.IntN(11) {
	case 0:
		code = "invalid_json"
		w.add(ts, `{"id": "`+id+`", "ts": `)
	case 1:
		code = "missing_field"
		w.add(ts, fmt.Sprintf(`{"id":%q,"ts":%q,"type":"serverless","model":%q,"input_tokens":1}`, id, rfc(ts), propModels[0].name))
	case 2:
		code = "invalid_value"
		w.add(ts, sl(`,"input_tokens":"5"`))
	case 3:
		code = "unknown_type"
		w.add(ts, fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"embedding"}`, id, rfc(ts), acct))
	case 4:
		code = "unknown_account"
		w.add(ts, strings.Replace(sl(`,"input_tokens":5`), acct, "acct_ghost", 1))
	case 5:
		code = "cached_exceeds_input"
		w.add(ts, sl(`,"input_tokens":5,"cached_input_tokens":10`))
	case 6:
		code = "end_not_after_start"
		w.add(ts, gpu(ts, ts, ts))
	case 7:
		code = "no_price"
		w.add(ts, strings.Replace(sl(`,"input_tokens":5`), propModels[2].name, "accounts/x/models/unknown", 1))
	case 8:
		code = "wrong_partition"
		w.add(ts.Add(24*time.Hour), sl(`,"input_tokens":5`))
	case 9:
		code = "late_report"
		w.add(ts.Add(3*time.Hour), gpu(ts, ts.Add(time.Minute), ts.Add(3*time.Hour)))
	case 10: // two copies with different content: both rejected
		code = "duplicate_conflict"
		w.add(ts, sl(`,"input_tokens":5`))
		w.add(ts, sl(`,"input_tokens":6`))
		w.rejects[code]++
	}
	w.rejects[code]++
}

func genPropWorld(t *testing.T, seed uint64, usageDir string) *propWorld {
	r := rand.New(rand.NewPCG(seed, 0x62696c6c72756e))
	w := &propWorld{r: r, usageDir: usageDir, files: map[string][]string{},
		qty: map[string]map[propLineKey]decimal.Decimal{}, rejects: map[string]int{}}
	n := 3 + r.IntN(4)
	for i := range n {
		a := propAccount{id: fmt.Sprintf("acct_p%02d", i+1), payment: r.IntN(3) > 0}
		switch r.IntN(4) {
		case 0:
			a.contract, a.cFrom, a.cTo = "15", "2026-01-01", "2027-01-01"
		case 1:
			a.contract, a.cFrom, a.cTo = "7.5", "2026-10-01", "2026-11-01"
		case 2: // starts after the period: does not apply
			a.contract, a.cFrom, a.cTo = "20", "2026-11-01", "2027-01-01"
		}
		for g := range r.IntN(4) {
			gr := propGrant{id: fmt.Sprintf("cg_%s_%d", a.id, g),
				amount:  decimal.New(r.Int64N(4000)+1, -2),
				granted: w.randTime(time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC))}
			if r.IntN(2) == 0 {
				gr.expires = w.randTime(time.Date(2026, 9, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
				if !gr.expires.After(gr.granted) {
					gr.expires = gr.granted.Add(48 * time.Hour)
				}
			}
			a.grants = append(a.grants, gr)
		}
		w.accounts = append(w.accounts, a)
	}
	// The last account has no usage; with four accounts or more, the one before it has a few
	// serverless events in an object of their own, which a round may withdraw.
	users := n - 1
	if n >= 4 {
		users--
		w.solo = true
		for range 1 + r.IntN(3) {
			day := propStart.Add(14 * 24 * time.Hour)
			w.event(w.accounts[users].id, false, day, day.Add(time.Hour))
			w.taken++
		}
		w.solo = false
	}
	for range 150 + r.IntN(150) {
		a := w.accounts[r.IntN(users)].id
		line := w.event(a, false, propStart, propEnd)
		w.taken++
		if r.IntN(15) == 0 { // a copy in the same partition: verbatim, with an unknown field, or keys sorted
			var ev map[string]any
			dec := json.NewDecoder(strings.NewReader(line))
			dec.UseNumber()
			must(t, dec.Decode(&ev))
			cp := line
			switch r.IntN(3) {
			case 0:
				cp = strings.TrimSuffix(line, "}") + `,"region":"us-east"}`
			case 1:
				b, err := json.Marshal(ev)
				must(t, err)
				cp = string(b)
			}
			ts, _ := time.Parse(time.RFC3339Nano, ev["ts"].(string))
			w.add(ts, cp)
			w.dups++
		}
	}
	if seed%2 == 0 { // one heavy GPU account reaches the 5% volume tier (1,000 GPU-hours)
		for range 130 {
			w.event(w.accounts[0].id, true, propStart.Add(time.Hour), propEnd.Add(-2*time.Hour))
			w.taken++
		}
	}
	// lines October ignores: next month's events in dt=2026-11-01, a GPU interval wholly in November
	// there, and one of September reported in dt=2026-10-01
	nov := propEnd.Add(3 * time.Hour)
	w.add(nov, fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"serverless","model":%q,"input_tokens":7}`, w.id(), rfc(nov), w.accounts[0].id, propModels[0].name))
	w.add(nov, fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"gpu","deployment":"x","gpu_type":"A100-80GB","gpu_count":1,"start":%q,"end":%q}`,
		w.id(), rfc(nov), w.accounts[0].id, rfc(propEnd.Add(time.Hour)), rfc(propEnd.Add(2*time.Hour))))
	sep := propStart.Add(-30 * time.Minute)
	w.add(propStart.Add(10*time.Minute), fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"gpu","deployment":"x","gpu_type":"A100-80GB","gpu_count":1,"start":%q,"end":%q}`,
		w.id(), rfc(propStart.Add(10*time.Minute)), w.accounts[0].id, rfc(sep), rfc(propStart)))
	w.ignored += 3
	for range 1 + r.IntN(8) {
		w.bad(w.accounts[r.IntN(n)].id)
	}
	w.flush(t)
	return w
}

// flush writes the files generated so far (appending) and forgets them.
func (w *propWorld) flush(t *testing.T) {
	for key, lines := range w.files {
		p := filepath.Join(w.usageDir, key)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		must(t, err)
		_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
		must(t, err)
		must(t, f.Close())
	}
	w.files = map[string][]string{}
}

func (w *propWorld) accountsYAML(payments string) string {
	var b strings.Builder
	b.WriteString("accounts:\n")
	for _, a := range w.accounts {
		fmt.Fprintf(&b, "  - id: %s\n    name: %s\n    email: %s@x.test\n    payment_method: %t\n", a.id, a.id, a.id, a.payment)
		if a.contract != "" {
			fmt.Fprintf(&b, "    contracts:\n      - {on_demand_discount_percent: %q, from: %s, to: %s}\n", a.contract, a.cFrom, a.cTo)
		}
		if len(a.grants) > 0 {
			b.WriteString("    credits:\n")
		}
		for _, g := range a.grants {
			exp := "null"
			if !g.expires.IsZero() {
				exp = rfc(g.expires)
			}
			fmt.Fprintf(&b, "      - {id: %s, kind: promotional, amount: %q, granted_at: %s, expires_at: %s}\n", g.id, g.amount.StringFixed(2), rfc(g.granted), exp)
		}
	}
	return b.String() + payments
}

// expected re-derives acct's October invoice from the generated events: lines by key, the subtotal
// and the credits applied (DESIGN §6).
func (w *propWorld) expected(a propAccount) (map[propLineKey]decimal.Decimal, decimal.Decimal, decimal.Decimal) {
	lines := map[propLineKey]decimal.Decimal{}
	sub, gpuSum, gpuSecs := decimal.Zero, decimal.Zero, decimal.Zero
	for k, q := range w.qty[a.id] {
		unit := decimal.NewFromInt(1_000_000)
		if k.kind == "gpu" {
			unit = decimal.NewFromInt(3600)
			gpuSecs = gpuSecs.Add(q)
		}
		amt := q.Mul(decimal.RequireFromString(k.unitPrice)).Div(unit).Round(2)
		lines[k] = amt
		sub = sub.Add(amt)
		if k.kind == "gpu" {
			gpuSum = gpuSum.Add(amt)
		}
	}
	pct := decimal.Zero
	if a.contract != "" && a.cFrom <= "2026-10-01" && "2026-10-01" < a.cTo {
		pct = decimal.RequireFromString(a.contract)
	}
	hours := gpuSecs.Div(decimal.NewFromInt(3600))
	for _, tier := range []struct{ h, p int64 }{{1000, 5}, {5000, 10}} {
		if hours.GreaterThanOrEqual(decimal.NewFromInt(tier.h)) && decimal.NewFromInt(tier.p).GreaterThan(pct) {
			pct = decimal.NewFromInt(tier.p)
		}
	}
	if disc := pct.Div(decimal.NewFromInt(100)).Mul(gpuSum).Round(2).Neg(); !disc.IsZero() {
		lines[propLineKey{kind: "discount", product: "on_demand", meter: "discount"}] = disc
		sub = sub.Add(disc)
	}
	avail := decimal.Zero
	for _, g := range a.grants {
		if g.granted.Before(propEnd) && (g.expires.IsZero() || g.expires.After(propStart)) {
			avail = avail.Add(g.amount)
		}
	}
	return lines, sub, decimal.Min(sub, avail)
}

type propDoc struct {
	Number, Account, Kind, Status string
	Replaces, Corrects            *string
	Lines                         []map[string]any
	Subtotal, Discount            string
	CreditsApplied                string `json:"credits_applied"`
	AmountDue                     string `json:"amount_due"`
	AmountPaid                    string `json:"amount_paid"`
}

func propDec(t *testing.T, s any) decimal.Decimal {
	t.Helper()
	if s == nil {
		return decimal.Zero
	}
	d, err := decimal.NewFromString(fmt.Sprint(s))
	if err != nil {
		t.Fatalf("decimal %v: %v", s, err)
	}
	return d
}

func propKey(l map[string]any) propLineKey {
	s := func(k string) string {
		if v, ok := l[k].(string); ok {
			return v
		}
		return ""
	}
	up := s("unit_price")
	if up != "" {
		up = decimal.RequireFromString(up).String()
	}
	return propLineKey{s("kind"), s("product"), s("deployment"), s("meter"), up}
}

// propExport returns the period's documents from `export --format json` and the raw JSON.
func propExport(t *testing.T, db, at string) ([]propDoc, string) {
	t.Helper()
	out, err := runStdout("export", "--period", "2026-10", "--format", "json", "--at", at, "--db", db)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	var exp struct{ Invoices []propDoc }
	must(t, json.Unmarshal([]byte(out), &exp))
	return exp.Invoices, out
}

// checkLedger checks the invariants every set of documents keeps and returns per account the sum of
// its effective documents' lines by key.
func checkLedger(t *testing.T, docs []propDoc) map[string]map[propLineKey]decimal.Decimal {
	t.Helper()
	numbers := map[string][]int{}
	eff := map[string]map[propLineKey]decimal.Decimal{}
	originals := map[string]int{}
	for _, d := range docs {
		sum, disc := decimal.Zero, decimal.Zero
		for _, l := range d.Lines {
			a := propDec(t, l["amount"])
			sum = sum.Add(a)
			if l["kind"] == "discount" {
				disc = disc.Add(a)
			}
		}
		sub, cr, due := propDec(t, d.Subtotal), propDec(t, d.CreditsApplied), propDec(t, d.AmountDue)
		if !sum.Equal(sub) || !disc.Equal(propDec(t, d.Discount)) {
			t.Errorf("%s: lines sum to %s (discount %s), subtotal %s (discount %s)", d.Number, sum, disc, d.Subtotal, d.Discount)
		}
		if d.Kind == "credit_note" {
			if !sub.IsNegative() || !cr.IsZero() || !due.IsZero() || d.Status != "issued" {
				t.Errorf("%s: credit note subtotal %s credits %s due %s status %s", d.Number, sub, cr, due, d.Status)
			}
		} else if !sub.Sub(cr).Equal(due) || due.IsNegative() || cr.IsNegative() || cr.GreaterThan(sub) {
			t.Errorf("%s: subtotal %s − credits %s ≠ amount due %s (or negative)", d.Number, sub, cr, due)
		}
		prefix, num, _ := strings.Cut(d.Number, "-")
		yr, seq, _ := strings.Cut(num, "-")
		n, err := strconv.Atoi(seq)
		if err != nil || yr != "2026" {
			t.Errorf("bad number %q", d.Number)
		}
		numbers[prefix+"-"+yr] = append(numbers[prefix+"-"+yr], n)
		if d.Status == "void" {
			continue
		}
		if d.Kind == "invoice" {
			originals[d.Account]++
		}
		if eff[d.Account] == nil {
			eff[d.Account] = map[propLineKey]decimal.Decimal{}
		}
		for _, l := range d.Lines {
			k := propKey(l)
			eff[d.Account][k] = eff[d.Account][k].Add(propDec(t, l["amount"]))
		}
	}
	for p, ns := range numbers {
		slices.Sort(ns)
		for i, n := range ns {
			if n != i+1 {
				t.Errorf("numbers of %s not gapless from 1: %v", p, ns)
				break
			}
		}
	}
	for a, n := range originals {
		if n != 1 {
			t.Errorf("%s has %d effective invoices", a, n)
		}
	}
	for a := range eff {
		if originals[a] != 1 {
			t.Errorf("%s has documents but no effective invoice", a)
		}
	}
	return eff
}

func propertyMonth(t *testing.T, seed uint64, newDB func(t *testing.T, tmp, name string) string) {
	tmp := t.TempDir()
	usageDir := filepath.Join(tmp, "usage")
	w := genPropWorld(t, seed, usageDir)
	accountsFile := filepath.Join(tmp, "accounts.yaml")
	must(t, os.WriteFile(accountsFile, []byte(w.accountsYAML("")), 0o644))
	db := newDB(t, tmp, "billrun")
	out := filepath.Join(tmp, "out")
	prices, _ := filepath.Abs("../../fixtures/prices.yaml")
	withUsage := []string{"--db", db, "--usage", usageDir, "--prices", prices}
	cmd := func(want int, args ...string) string {
		t.Helper()
		o, err := runCapture(append(args, withUsage...)...)
		if got := exitCode(err); got != want {
			t.Fatalf("%v: exit %d (%v), want %d\n%s", args, got, err, want, o)
		}
		return o
	}
	const closeAt = "2026-11-01T02:00:00Z"
	cmd(0, "close", "--period", "2026-10", "--at", closeAt, "--accounts", accountsFile, "--out", out, "--max-rejects", "1000")

	// counts and rejects: nothing silently dropped
	rateOut, err := runStdout(append([]string{"rate", "--period", "2026-10", "--at", closeAt, "--format", "json", "--max-rejects", "1000"}, withUsage...)...)
	must(t, err)
	var rate struct {
		Counts struct {
			Lines, Accepted, Duplicates, Rejected int
			Taken                                 int            `json:"events_taken"`
			ByCode                                map[string]int `json:"rejects_by_code"`
		}
	}
	must(t, json.Unmarshal([]byte(rateOut), &rate))
	c := rate.Counts
	nRejects := 0
	for _, n := range w.rejects {
		nRejects += n
	}
	if c.Lines != w.lines || c.Accepted != w.taken || c.Duplicates != w.dups || c.Rejected != nRejects ||
		c.Accepted+c.Duplicates+c.Rejected+w.ignored != c.Lines || !reflect.DeepEqual(c.ByCode, w.rejects) && len(w.rejects) > 0 {
		t.Errorf("counts %+v, want lines %d accepted %d duplicates %d rejected %d %v (ignored %d)",
			c, w.lines, w.taken, w.dups, nRejects, w.rejects, w.ignored)
	}
	csv, err := os.ReadFile(filepath.Join(out, "2026-10", "rejects.csv"))
	must(t, err)
	gotCodes := map[string]int{}
	for _, row := range strings.Split(strings.TrimSpace(string(csv)), "\n")[1:] {
		if f := splitCSV(row); len(f) >= 4 {
			gotCodes[f[3]]++
		}
	}
	if !reflect.DeepEqual(gotCodes, w.rejects) {
		t.Errorf("rejects.csv codes %v, want %v", gotCodes, w.rejects)
	}

	// every invoice re-derived from the events
	docs, exportJSON := propExport(t, db, closeAt)
	byAcct := map[string]propDoc{}
	for _, d := range docs {
		byAcct[d.Account] = d
	}
	for _, a := range w.accounts {
		want, sub, credits := w.expected(a)
		d, ok := byAcct[a.id]
		if len(want) == 0 {
			if ok {
				t.Errorf("%s has no usage but invoice %s", a.id, d.Number)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: no invoice, want subtotal %s", a.id, sub)
			continue
		}
		got := map[propLineKey]decimal.Decimal{}
		for _, l := range d.Lines {
			got[propKey(l)] = propDec(t, l["amount"])
		}
		for k, amt := range want {
			if !got[k].Equal(amt) {
				t.Errorf("%s %s line %+v = %s, want %s", a.id, d.Number, k, got[k], amt)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s %s: unexpected line %+v %s", a.id, d.Number, k, got[k])
			}
		}
		if !propDec(t, d.Subtotal).Equal(sub) || !propDec(t, d.CreditsApplied).Equal(credits) {
			t.Errorf("%s %s: subtotal %s credits %s, want %s and %s", a.id, d.Number, d.Subtotal, d.CreditsApplied, sub, credits)
		}
	}
	checkLedger(t, docs)
	credited, discounted := 0, 0
	for _, d := range docs {
		if propDec(t, d.CreditsApplied).IsPositive() {
			credited++
		}
		if propDec(t, d.Discount).IsNegative() {
			discounted++
		}
	}
	t.Logf("%d accounts, %d lines, %d duplicates, rejects %v: %d invoices, %d with credits, %d with a discount",
		len(w.accounts), w.lines, w.dups, w.rejects, len(docs), credited, discounted)
	var closeJSON, expJSON struct{ Invoices []map[string]any }
	data, err := os.ReadFile(filepath.Join(out, "2026-10", "invoices.json"))
	must(t, err)
	must(t, json.Unmarshal(data, &closeJSON))
	must(t, json.Unmarshal([]byte(exportJSON), &expJSON))
	if !reflect.DeepEqual(closeJSON.Invoices, expJSON.Invoices) {
		t.Errorf("close's invoices.json differs from export --format json")
	}
	checkConsistent(t, "after close", tmp, []string{"--db", db}, withUsage, "2026-10", closeAt, 0)

	// nothing changes: a second close, a dry run, a rerun of unchanged usage
	cmd(0, "close", "--period", "2026-10", "--at", "2026-11-01T05:00:00Z", "--out", out, "--max-rejects", "1000")
	cmd(0, "rerun", "--period", "2026-10", "--at", "2026-11-02T00:00:00Z", "--dry-run", "--max-rejects", "1000")
	cmd(0, "rerun", "--period", "2026-10", "--at", "2026-11-02T00:00:00Z", "--out", out, "--max-rejects", "1000")
	if again, _ := propExport(t, db, closeAt); !reflect.DeepEqual(again, docs) {
		t.Errorf("second close or unchanged rerun changed the documents:\n%v\nwas\n%v", again, docs)
	}
	checkConsistent(t, "after unchanged rerun", tmp, []string{"--db", db}, withUsage, "2026-10", "2026-11-02T00:00:00Z", 0)

	for round, at := range []string{"2026-11-05T00:00:00Z", "2026-11-09T00:00:00Z"} {
		docs = propRound(t, w, tmp, accountsFile, withUsage, round, at, docs, newDB)
	}
}

// propRound adds late usage, sometimes withdraws an object, pays some open documents and reruns at
// at; then the effective documents must bill what a fresh close of all the usage bills.
func propRound(t *testing.T, w *propWorld, tmp, accountsFile string, withUsage []string, round int, rerunAt string,
	docs []propDoc, newDB func(t *testing.T, tmp, name string) string) []propDoc {
	db, usageDir, prices, out := withUsage[1], withUsage[3], withUsage[5], filepath.Join(tmp, "out")
	cmd := func(want int, args ...string) string {
		t.Helper()
		o, err := runCapture(append(args, withUsage...)...)
		if got := exitCode(err); got != want {
			t.Fatalf("round %d %v: exit %d (%v), want %d\n%s", round, args, got, err, want, o)
		}
		return o
	}
	before := time.Date(2026, 11, 3+4*round, 0, 0, 0, 0, time.UTC)
	late := w.accounts[w.r.IntN(len(w.accounts))].id
	for range 5 + w.r.IntN(20) {
		w.event(late, false, propStart, propEnd)
		if w.r.IntN(2) == 0 {
			late = w.accounts[w.r.IntN(len(w.accounts))].id
		}
	}
	for key, lines := range w.files { // late objects of their own
		w.files[strings.Replace(key, "part-", fmt.Sprintf("late%d-", round), 1)] = lines
		delete(w.files, key)
	}
	w.flush(t)
	if w.r.IntN(2) == 0 { // usage withdrawn: an object of the close disappears
		objs, _ := filepath.Glob(filepath.Join(usageDir, "dt=2026-10-*", "*.jsonl"))
		must(t, os.Remove(objs[w.r.IntN(len(objs))]))
	}
	cmd(4, "reconcile", "--period", "2026-10", "--at", rfc(before), "--out", out)
	var pays strings.Builder
	for i, d := range docs {
		if due := propDec(t, d.AmountDue).Sub(propDec(t, d.AmountPaid)); due.IsPositive() && w.r.IntN(2) == 0 {
			amt := due
			if w.r.IntN(2) == 0 {
				amt = due.Div(decimal.NewFromInt(2)).Round(2)
			}
			if pays.Len() == 0 {
				pays.WriteString("payments:\n")
			}
			fmt.Fprintf(&pays, "  - {id: pay_%d_%d, account: %s, amount: %q, paid_at: %s, invoice: %s}\n", round, i, d.Account, amt.StringFixed(2), rfc(before), d.Number)
		}
	}
	payFile := filepath.Join(tmp, "payments.yaml")
	must(t, os.WriteFile(payFile, []byte(pays.String()+"accounts: []\n"), 0o644))
	if o, err := runCapture("accounts", "import", payFile, "--db", db, "--at", rfc(before.Add(time.Hour))); err != nil {
		t.Fatalf("import payments: %v\n%s", err, o)
	}
	cmd(0, "rerun", "--period", "2026-10", "--at", rerunAt, "--out", out, "--max-rejects", "1000")
	docs2, _ := propExport(t, db, rerunAt)
	eff := checkLedger(t, docs2)
	kinds := map[string]int{}
	for _, d := range docs2 {
		kinds[d.Kind+"/"+d.Status]++
	}
	t.Logf("round %d: %v", round, kinds)
	checkConsistent(t, fmt.Sprintf("after rerun %d", round), tmp, []string{"--db", db}, withUsage, "2026-10", rerunAt, 0)
	checkCredits(t, filepath.Join(tmp, "consistent-2026-10.xlsx"), docs2)
	cmd(0, "rerun", "--period", "2026-10", "--at", rerunAt, "--out", out, "--max-rejects", "1000")
	if again, _ := propExport(t, db, rerunAt); !reflect.DeepEqual(again, docs2) {
		t.Errorf("round %d: a second rerun of unchanged usage changed the documents", round)
	}

	// a fresh close of all the usage on an empty database bills the same
	freshDB := newDB(t, tmp, fmt.Sprintf("fresh%d", round))
	if o, err := runCapture("close", "--period", "2026-10", "--at", rerunAt, "--accounts", accountsFile, "--out", filepath.Join(tmp, "fresh"),
		"--max-rejects", "1000", "--db", freshDB, "--usage", usageDir, "--prices", prices); err != nil {
		t.Fatalf("fresh close: %v\n%s", err, o)
	}
	fresh, _ := propExport(t, freshDB, rerunAt)
	paid, noted := map[string]bool{}, map[string]bool{}
	sums := map[string][3]decimal.Decimal{} // subtotal, credits, due of the effective documents
	for _, d := range docs2 {
		if propDec(t, d.AmountPaid).IsPositive() {
			paid[d.Account] = true
		}
		if d.Kind == "credit_note" {
			noted[d.Account] = true
		}
		if d.Status != "void" {
			s := sums[d.Account]
			sums[d.Account] = [3]decimal.Decimal{s[0].Add(propDec(t, d.Subtotal)), s[1].Add(propDec(t, d.CreditsApplied)), s[2].Add(propDec(t, d.AmountDue))}
		}
	}
	freshBy := map[string]propDoc{}
	for _, d := range fresh {
		freshBy[d.Account] = d
	}
	for _, a := range w.accounts {
		f, ok := freshBy[a.id]
		s := sums[a.id]
		if !ok {
			if slices.ContainsFunc(slices.Collect(maps.Values(eff[a.id])), func(v decimal.Decimal) bool { return !v.IsZero() }) {
				t.Errorf("%s: effective documents after rerun but no usage in a fresh close", a.id)
			}
			continue
		}
		want := map[propLineKey]decimal.Decimal{}
		for _, l := range f.Lines {
			want[propKey(l)] = propDec(t, l["amount"])
		}
		for k, v := range eff[a.id] {
			if !v.Equal(want[k]) {
				t.Errorf("%s: line %+v sums to %s after rerun, fresh close %s", a.id, k, v, want[k])
			}
		}
		for k, v := range want {
			if !v.Equal(eff[a.id][k]) {
				t.Errorf("%s: fresh close line %+v %s, after rerun %s", a.id, k, v, eff[a.id][k])
			}
		}
		if noted[a.id] { // a credit note's amount is a grant of its own, not credits taken back
			if !s[0].Equal(propDec(t, f.Subtotal)) {
				t.Errorf("%s: effective subtotal %s, fresh close %s", a.id, s[0], f.Subtotal)
			}
			continue
		}
		if !s[0].Equal(propDec(t, f.Subtotal)) || !s[1].Equal(propDec(t, f.CreditsApplied)) || !s[2].Equal(propDec(t, f.AmountDue)) {
			t.Errorf("%s (paid %t): effective subtotal/credits/due %v, fresh close %s/%s/%s", a.id, paid[a.id], s, f.Subtotal, f.CreditsApplied, f.AmountDue)
		}
	}
	return docs2
}

// checkCredits checks the workbook's Credits sheet against the documents: each effective document's
// consumptions sum to its credits applied, each grant's consumption (by effective documents) is its
// Consumed, never above its amount, and every credit note has a credit_note grant of its amount.
func checkCredits(t *testing.T, path string, docs []propDoc) {
	t.Helper()
	f, err := excelize.OpenFile(path)
	must(t, err)
	defer f.Close()
	rows, err := f.GetRows("Credits", excelize.Options{RawCellValue: true})
	must(t, err)
	status := map[string]propDoc{}
	for _, d := range docs {
		status[d.Number] = d
	}
	applied, consumed := map[string]decimal.Decimal{}, map[string]decimal.Decimal{}
	i := 1
	for ; i < len(rows) && len(rows[i]) >= 5; i++ {
		d, ok := status[rows[i][0]]
		if !ok {
			t.Errorf("Credits: unknown document %v", rows[i])
			continue
		}
		if d.Status != "void" {
			applied[d.Number] = applied[d.Number].Add(propDec(t, rows[i][4]))
			consumed[rows[i][3]] = consumed[rows[i][3]].Add(propDec(t, rows[i][4]))
		}
	}
	for _, d := range docs {
		if d.Status != "void" && !applied[d.Number].Equal(propDec(t, d.CreditsApplied)) {
			t.Errorf("Credits: %s consumed %s, credits applied %s", d.Number, applied[d.Number], d.CreditsApplied)
		}
	}
	notes := map[string]decimal.Decimal{}
	for _, d := range docs {
		if d.Kind == "credit_note" {
			notes[d.Account] = notes[d.Account].Sub(propDec(t, d.Subtotal))
		}
	}
	for ; i < len(rows); i++ {
		r := rows[i]
		if len(r) < 8 || r[0] == "Grant" {
			continue
		}
		amt, used := propDec(t, r[3]), propDec(t, r[6])
		if !used.Equal(consumed[r[0]]) || used.GreaterThan(amt) || !amt.Sub(used).Equal(propDec(t, r[7])) {
			t.Errorf("Credits: grant %v: consumed by effective documents %s", r, consumed[r[0]])
		}
		if r[2] == "credit_note" {
			notes[r[1]] = notes[r[1]].Sub(amt)
		}
	}
	for a, v := range notes {
		if !v.IsZero() {
			t.Errorf("Credits: %s credit notes and credit_note grants differ by %s", a, v)
		}
	}
}
