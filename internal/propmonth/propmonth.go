// Package propmonth generates a small random month of usage, accounts and grants for billrun's
// property tests, and re-derives from the generated events what each account's invoice must bill.
// Only tests import it.
package propmonth

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// Start and End bound the generated month, October 2026.
var (
	Start = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	End   = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// models: the fixtures' catalog with each model's input (= output) and cached price per 1M
	// tokens in the version of 2026-09-01, and its fine-tuning bucket price.
	models = []struct{ name, in, cached, ft string }{
		{"accounts/fireworks/models/qwen2p5-1p5b-instruct", "0.10", "0.05", "0.50"},
		{"accounts/fireworks/models/llama-v3p2-3b-instruct", "0.10", "0.05", "0.50"},
		{"accounts/fireworks/models/llama-v3p1-8b-instruct", "0.20", "0.10", "0.50"},
		{"accounts/fireworks/models/qwen3-30b-a3b", "0.50", "0.25", "3.00"},
		{"accounts/fireworks/models/llama-v3p1-70b-instruct", "0.90", "0.45", "3.00"},
		{"accounts/fireworks/models/mixtral-8x22b-instruct", "1.20", "0.60", "6.00"},
		{"accounts/fireworks/models/deepseek-v3", "0.90", "0.45", "10.00"},
	}
	gpuPrices = map[string]string{"A100-80GB": "2.90", "H100-80GB": "8.00", "H200-141GB": "8.00", "B200-180GB": "13.00"}
	gpus      = []string{"A100-80GB", "B200-180GB", "H100-80GB", "H200-141GB"}
	methods   = []struct{ name, mult string }{{"lora_sft", "1"}, {"lora_dpo", "2"}, {"full_sft", "2"}, {"full_dpo", "4"}}
)

// Grant is a generated credit grant.
type Grant struct {
	ID               string
	Amount           decimal.Decimal
	Granted, Expires time.Time // Expires zero: never
}

// Account is a generated account: payment method, contract (percent, "" for none) and grants.
type Account struct {
	ID         string
	Payment    bool
	Contract   string
	CFrom, CTo string
	Grants     []Grant
}

// LineKey identifies an invoice line (DESIGN §6.1).
type LineKey struct{ Kind, Product, Deployment, Meter, UnitPrice string }

// World is the generated month and what it must bill.
type World struct {
	R        *rand.Rand
	UsageDir string
	Accounts []Account
	Files    map[string][]string // relative key → lines not yet written (Flush)
	Qty      map[string]map[LineKey]decimal.Decimal
	ids      int
	solo     bool           // events go to objects of their own (solo.jsonl)
	Lines    int            // lines written, all objects
	Ignored  int            // lines the close of October does not take (next period, previous period)
	Taken    int            // good events taken, first copies
	Dups     int            // exact copies
	Rejects  map[string]int // code → count
}

func (w *World) add(at time.Time, line string) {
	key := fmt.Sprintf("dt=%s/part-%d.jsonl", at.UTC().Format("2006-01-02"), w.R.IntN(2))
	if w.solo {
		key = fmt.Sprintf("dt=%s/solo.jsonl", at.UTC().Format("2006-01-02"))
	}
	w.Files[key] = append(w.Files[key], line)
	w.Lines++
}

func (w *World) bill(acct string, k LineKey, q decimal.Decimal) {
	if q.IsZero() {
		return
	}
	k.UnitPrice = decimal.RequireFromString(k.UnitPrice).String()
	if w.Qty[acct] == nil {
		w.Qty[acct] = map[LineKey]decimal.Decimal{}
	}
	w.Qty[acct][k] = w.Qty[acct][k].Add(q)
}

func (w *World) nextID() string { w.ids++; return fmt.Sprintf("ev-%06d", w.ids) }

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// rfcAny writes t in UTC or, one time in four, with a UTC offset (DESIGN §11: converted to UTC).
func (w *World) rfcAny(t time.Time) string {
	if w.R.IntN(4) == 0 {
		return t.In(time.FixedZone("", (5*60+30)*60)).Format(time.RFC3339Nano)
	}
	return rfc(t)
}

func (w *World) randTime(from, to time.Time) time.Time {
	return from.Add(time.Duration(w.R.Int64N(int64(to.Sub(from)/time.Second))) * time.Second)
}

// Event writes one good event of acct at a random time in [from, to) and records what it bills in
// October. It returns the line, for duplicates.
func (w *World) Event(acct string, heavy bool, from, to time.Time) string {
	r := w.R
	switch k := r.IntN(10); {
	case heavy || k < 3: // GPU
		gt := gpus[r.IntN(len(gpus))]
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
			start = End.Add(-dur / 2)
		case 1: // crosses in from September, reported in dt=2026-10-01
			start = Start.Add(-dur / 2)
		}
		end := start.Add(dur)
		ts := end.Add(time.Duration(r.IntN(3600)) * time.Second)
		line := fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"gpu","deployment":%q,"gpu_type":%q,"gpu_count":%d,"start":%q,"end":%q}`,
			w.nextID(), w.rfcAny(ts), acct, dep, gt, count, w.rfcAny(start), w.rfcAny(end))
		s, e := max2(start, Start), end
		if e.After(End) {
			e = End
		}
		secs := decimal.NewFromInt(e.Sub(s).Nanoseconds()).Div(decimal.NewFromInt(1e9))
		w.bill(acct, LineKey{"gpu", gt, dep, "gpu_seconds", gpuPrices[gt]}, secs.Mul(decimal.NewFromInt(int64(count))))
		w.add(ts, line)
		return line
	case k < 5: // fine-tuning: one base model and method per job
		j := r.IntN(3)
		m := models[(j*3+len(acct))%len(models)]
		meth := methods[(j+len(acct))%len(methods)]
		tokens, epochs := r.Int64N(3_000_000), 1+r.IntN(3)
		ts := w.randTime(from, to)
		extra := fmt.Sprintf(`,"epochs":%d,"method":%q`, epochs, meth.name)
		if epochs == 1 && meth.name == "lora_sft" && r.IntN(2) == 0 {
			extra = "" // the defaults
		}
		line := fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"fine_tuning","job":"ftj-%s-%d","base_model":%q,"training_tokens":%d%s}`,
			w.nextID(), w.rfcAny(ts), acct, acct, j, m.name, tokens, extra)
		price := decimal.RequireFromString(m.ft).Mul(decimal.RequireFromString(meth.mult))
		w.bill(acct, LineKey{"fine_tuning", fmt.Sprintf("ftj-%s-%d", acct, j), "", "training_tokens", price.String()}, decimal.NewFromInt(tokens*int64(epochs)))
		w.add(ts, line)
		return line
	default: // serverless, on a base model or a fine-tuned one priced as its base
		mi := r.IntN(len(models))
		m := models[mi]
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
			w.nextID(), w.rfcAny(ts), acct, model, base, in, cached, out, batch)
		pre, mult := "", decimal.NewFromInt(1)
		if batch {
			pre, mult = "batch_", decimal.RequireFromString("0.5")
		}
		inP := decimal.RequireFromString(m.in).Mul(mult).String()
		cP := decimal.RequireFromString(m.cached).Mul(mult).String()
		w.bill(acct, LineKey{"serverless", model, "", pre + "input_tokens", inP}, decimal.NewFromInt(in-cached))
		w.bill(acct, LineKey{"serverless", model, "", pre + "cached_input_tokens", cP}, decimal.NewFromInt(cached))
		w.bill(acct, LineKey{"serverless", model, "", pre + "output_tokens", inP}, decimal.NewFromInt(out))
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
func (w *World) bad(acct string) {
	ts := w.randTime(Start.Add(24*time.Hour), End.Add(-24*time.Hour))
	id := w.nextID()
	sl := func(extra string) string {
		return fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"serverless","model":%q%s}`, id, rfc(ts), acct, models[2].name, extra)
	}
	gpu := func(start, end, rep time.Time) string {
		return fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"gpu","deployment":"d","gpu_type":"A100-80GB","gpu_count":1,"start":%q,"end":%q}`,
			id, rfc(rep), acct, rfc(start), rfc(end))
	}
	var code string
	switch w.R.IntN(11) {
	case 0:
		code = "invalid_json"
		w.add(ts, `{"id": "`+id+`", "ts": `)
	case 1:
		code = "missing_field"
		w.add(ts, fmt.Sprintf(`{"id":%q,"ts":%q,"type":"serverless","model":%q,"input_tokens":1}`, id, rfc(ts), models[0].name))
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
		w.add(ts, strings.Replace(sl(`,"input_tokens":5`), models[2].name, "accounts/x/models/unknown", 1))
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
		w.Rejects[code]++
	}
	w.Rejects[code]++
}

// Generate writes a random October 2026 of seed under usageDir — 3 to 6 accounts with and without
// payment method, grants and contracts; serverless, GPU (crossing both month boundaries) and
// fine-tuning events; exact duplicates, lines October ignores and bad lines — and returns it.
func Generate(t testing.TB, seed uint64, usageDir string) *World {
	r := rand.New(rand.NewPCG(seed, 0x62696c6c72756e))
	w := &World{R: r, UsageDir: usageDir, Files: map[string][]string{},
		Qty: map[string]map[LineKey]decimal.Decimal{}, Rejects: map[string]int{}}
	n := 3 + r.IntN(4)
	for i := range n {
		a := Account{ID: fmt.Sprintf("acct_p%02d", i+1), Payment: r.IntN(3) > 0}
		switch r.IntN(4) {
		case 0:
			a.Contract, a.CFrom, a.CTo = "15", "2026-01-01", "2027-01-01"
		case 1:
			a.Contract, a.CFrom, a.CTo = "7.5", "2026-10-01", "2026-11-01"
		case 2: // starts after the period: does not apply
			a.Contract, a.CFrom, a.CTo = "20", "2026-11-01", "2027-01-01"
		}
		for g := range r.IntN(4) {
			gr := Grant{ID: fmt.Sprintf("cg_%s_%d", a.ID, g),
				Amount:  decimal.New(r.Int64N(4000)+1, -2),
				Granted: w.randTime(time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC))}
			if r.IntN(2) == 0 {
				gr.Expires = w.randTime(time.Date(2026, 9, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
				if !gr.Expires.After(gr.Granted) {
					gr.Expires = gr.Granted.Add(48 * time.Hour)
				}
			}
			a.Grants = append(a.Grants, gr)
		}
		w.Accounts = append(w.Accounts, a)
	}
	// The last account has no usage; with four accounts or more, the one before it has a few
	// serverless events in an object of their own, which a round may withdraw.
	users := n - 1
	if n >= 4 {
		users--
		w.solo = true
		for range 1 + r.IntN(3) {
			day := Start.Add(14 * 24 * time.Hour)
			w.Event(w.Accounts[users].ID, false, day, day.Add(time.Hour))
			w.Taken++
		}
		w.solo = false
	}
	for range 150 + r.IntN(150) {
		a := w.Accounts[r.IntN(users)].ID
		line := w.Event(a, false, Start, End)
		w.Taken++
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
			w.Dups++
		}
	}
	if seed%2 == 0 { // one heavy GPU account reaches the 5% volume tier (1,000 GPU-hours)
		for range 130 {
			w.Event(w.Accounts[0].ID, true, Start.Add(time.Hour), End.Add(-2*time.Hour))
			w.Taken++
		}
	}
	// lines October ignores: next month's events in dt=2026-11-01, a GPU interval wholly in November
	// there, and one of September reported in dt=2026-10-01
	nov := End.Add(3 * time.Hour)
	w.add(nov, fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"serverless","model":%q,"input_tokens":7}`, w.nextID(), rfc(nov), w.Accounts[0].ID, models[0].name))
	w.add(nov, fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"gpu","deployment":"x","gpu_type":"A100-80GB","gpu_count":1,"start":%q,"end":%q}`,
		w.nextID(), rfc(nov), w.Accounts[0].ID, rfc(End.Add(time.Hour)), rfc(End.Add(2*time.Hour))))
	sep := Start.Add(-30 * time.Minute)
	w.add(Start.Add(10*time.Minute), fmt.Sprintf(`{"id":%q,"ts":%q,"account":%q,"type":"gpu","deployment":"x","gpu_type":"A100-80GB","gpu_count":1,"start":%q,"end":%q}`,
		w.nextID(), rfc(Start.Add(10*time.Minute)), w.Accounts[0].ID, rfc(sep), rfc(Start)))
	w.Ignored += 3
	for range 1 + r.IntN(8) {
		w.bad(w.Accounts[r.IntN(n)].ID)
	}
	w.Flush(t)
	return w
}

// Flush writes the files generated so far (appending) and forgets them.
func (w *World) Flush(t testing.TB) {
	for key, lines := range w.Files {
		p := filepath.Join(w.UsageDir, key)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		must(t, err)
		_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
		must(t, err)
		must(t, f.Close())
	}
	w.Files = map[string][]string{}
}

// AccountsYAML returns the accounts file (DESIGN §6) of w's accounts, followed by payments.
func (w *World) AccountsYAML(payments string) string {
	var b strings.Builder
	b.WriteString("accounts:\n")
	for _, a := range w.Accounts {
		fmt.Fprintf(&b, "  - id: %s\n    name: %s\n    email: %s@x.test\n    payment_method: %t\n", a.ID, a.ID, a.ID, a.Payment)
		if a.Contract != "" {
			fmt.Fprintf(&b, "    contracts:\n      - {on_demand_discount_percent: %q, from: %s, to: %s}\n", a.Contract, a.CFrom, a.CTo)
		}
		if len(a.Grants) > 0 {
			b.WriteString("    credits:\n")
		}
		for _, g := range a.Grants {
			exp := "null"
			if !g.Expires.IsZero() {
				exp = rfc(g.Expires)
			}
			fmt.Fprintf(&b, "      - {id: %s, kind: promotional, amount: %q, granted_at: %s, expires_at: %s}\n", g.ID, g.Amount.StringFixed(2), rfc(g.Granted), exp)
		}
	}
	return b.String() + payments
}

// Expected re-derives acct's October invoice from the generated events: lines by key, the subtotal
// and the credits applied (DESIGN §6).
func (w *World) Expected(a Account) (map[LineKey]decimal.Decimal, decimal.Decimal, decimal.Decimal) {
	lines := map[LineKey]decimal.Decimal{}
	sub, gpuSum, gpuSecs := decimal.Zero, decimal.Zero, decimal.Zero
	for k, q := range w.Qty[a.ID] {
		unit := decimal.NewFromInt(1_000_000)
		if k.Kind == "gpu" {
			unit = decimal.NewFromInt(3600)
			gpuSecs = gpuSecs.Add(q)
		}
		amt := q.Mul(decimal.RequireFromString(k.UnitPrice)).Div(unit).Round(2)
		lines[k] = amt
		sub = sub.Add(amt)
		if k.Kind == "gpu" {
			gpuSum = gpuSum.Add(amt)
		}
	}
	pct := decimal.Zero
	if a.Contract != "" && a.CFrom <= "2026-10-01" && "2026-10-01" < a.CTo {
		pct = decimal.RequireFromString(a.Contract)
	}
	hours := gpuSecs.Div(decimal.NewFromInt(3600))
	for _, tier := range []struct{ h, p int64 }{{1000, 5}, {5000, 10}} {
		if hours.GreaterThanOrEqual(decimal.NewFromInt(tier.h)) && decimal.NewFromInt(tier.p).GreaterThan(pct) {
			pct = decimal.NewFromInt(tier.p)
		}
	}
	if disc := pct.Div(decimal.NewFromInt(100)).Mul(gpuSum).Round(2).Neg(); !disc.IsZero() {
		lines[LineKey{Kind: "discount", Product: "on_demand", Meter: "discount"}] = disc
		sub = sub.Add(disc)
	}
	avail := decimal.Zero
	for _, g := range a.Grants {
		if g.Granted.Before(End) && (g.Expires.IsZero() || g.Expires.After(Start)) {
			avail = avail.Add(g.Amount)
		}
	}
	return lines, sub, decimal.Min(sub, avail)
}
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
