// Package accountsfile reads the accounts-and-payments file of DESIGN §6 (YAML, or JSON, which YAML
// includes) into an invoices.Import, keeping track of which fields each record sets so an import
// leaves the others as stored.
package accountsfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

	"billrun/internal/yamlnode"
	"billrun/invoices"
	"billrun/rating"
)

type file struct {
	Accounts []yaml.Node `yaml:"accounts"`
	Payments []yaml.Node `yaml:"payments"`
}

type account struct {
	ID                 string           `yaml:"id"`
	Name               *string          `yaml:"name"`
	Email              *string          `yaml:"email"`
	PaymentMethod      *bool            `yaml:"payment_method"`
	SpendLimitOverride *decimal.Decimal `yaml:"spend_limit_override"`
	Contracts          []contract       `yaml:"contracts"`
	Credits            []grant          `yaml:"credits"`
}

type contract struct {
	Percent decimal.Decimal `yaml:"on_demand_discount_percent"`
	From    fileTime        `yaml:"from"`
	To      fileTime        `yaml:"to"`
}

type grant struct {
	ID        string    `yaml:"id"`
	Kind      string    `yaml:"kind"`
	Amount    string    `yaml:"amount"`
	GrantedAt fileTime  `yaml:"granted_at"`
	ExpiresAt *fileTime `yaml:"expires_at"`
}

type payment struct {
	ID      string   `yaml:"id"`
	Account string   `yaml:"account"`
	Amount  string   `yaml:"amount"`
	PaidAt  fileTime `yaml:"paid_at"`
	For     string   `yaml:"for"`
	Invoice string   `yaml:"invoice"`
}

// fileTime is a time in the file: a YAML timestamp, or — as JSON has no timestamps, and a YAML string
// may be quoted — a string in RFC 3339 (its T and Z in either case) or a date, YYYY-MM-DD, which is
// its midnight UTC as the same date unquoted in YAML is (DESIGN §6 writes contract dates so).
type fileTime struct{ time.Time }

func (t *fileTime) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!timestamp" {
		return n.Decode(&t.Time)
	}
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!str" || n.Tag == "") {
		if v, err := rating.ParseRFC3339(n.Value); err == nil {
			t.Time = v
			return nil
		}
		if v, err := time.Parse(time.DateOnly, n.Value); err == nil {
			t.Time = v
			return nil
		}
	}
	return fmt.Errorf("line %d: %q is not a time: want RFC 3339, e.g. 2026-10-05T14:00:00Z, or a date, 2026-10-05",
		n.Line, n.Value)
}

// Load reads and validates the file at path.
func Load(path string) (*invoices.Import, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("accounts file: %w", err)
	}
	imp, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("accounts file %s: %w", path, err)
	}
	return imp, nil
}

// Parse decodes and validates an accounts file. Errors name the record and field to fix.
func Parse(data []byte) (*invoices.Import, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt section (acounts:) is an error, not an empty import
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	imp := &invoices.Import{}
	seen := map[string]bool{}
	for i := range f.Accounts {
		n := &f.Accounts[i]
		if err := checkKeys(n, accountKeys, fmt.Sprintf("accounts[%d]", i), accountLists); err != nil {
			return nil, err
		}
		var a account
		if err := n.Decode(&a); err != nil {
			return nil, fmt.Errorf("accounts[%d] (line %d): %w", i, n.Line, err)
		}
		if a.ID == "" {
			return nil, fmt.Errorf("accounts[%d] (line %d): id is required", i, n.Line)
		}
		texts := []namedText{{"id", a.ID}, {"name", deref(a.Name)}, {"email", deref(a.Email)}}
		for j, g := range a.Credits {
			texts = append(texts, namedText{fmt.Sprintf("credits[%d].id", j), g.ID})
		}
		if err := checkTexts(texts); err != nil {
			return nil, fmt.Errorf("accounts[%d] (line %d): %w", i, n.Line, err)
		}
		if seen["a:"+a.ID] {
			return nil, fmt.Errorf("account %s (line %d): listed twice", a.ID, n.Line)
		}
		seen["a:"+a.ID] = true
		rec := invoices.AccountRecord{ID: a.ID, Name: a.Name, Email: a.Email, PaymentMethod: a.PaymentMethod,
			SpendLimitOverride: a.SpendLimitOverride}
		keys := mappingKeys(n)
		rec.SpendLimitOverrideSet = keys["spend_limit_override"]
		if a.SpendLimitOverride != nil && a.SpendLimitOverride.IsNegative() {
			return nil, fmt.Errorf("account %s: spend_limit_override must not be negative", a.ID)
		}
		if a.SpendLimitOverride != nil && a.SpendLimitOverride.Exponent() < -2 && !a.SpendLimitOverride.Equal(a.SpendLimitOverride.Round(2)) {
			return nil, fmt.Errorf("account %s: spend_limit_override %s has fractions of a cent", a.ID, a.SpendLimitOverride)
		}
		rec.ContractsSet = keys["contracts"]
		for j, c := range a.Contracts {
			if c.From.IsZero() || c.To.IsZero() || !c.To.After(c.From.Time) {
				return nil, fmt.Errorf("account %s: contracts[%d]: from and to are required and to must be after from", a.ID, j)
			}
			// DESIGN §6: contract dates are midnight UTC, month boundaries.
			for _, d := range []struct {
				name string
				t    time.Time
			}{{"from", c.From.Time}, {"to", c.To.Time}} {
				if u := d.t.UTC(); u.Day() != 1 || !u.Equal(u.Truncate(24*time.Hour)) {
					return nil, fmt.Errorf("account %s: contracts[%d]: %s %s is not the start of a month (midnight UTC on the 1st)",
						a.ID, j, d.name, d.t.Format(time.RFC3339))
				}
			}
			if v := yamlnode.Value(contractNodes(n)[j], "on_demand_discount_percent"); v == nil || v.Tag == "!!null" {
				return nil, fmt.Errorf("account %s: contracts[%d]: on_demand_discount_percent is required", a.ID, j)
			}
			if c.Percent.IsNegative() || c.Percent.GreaterThan(decimal.NewFromInt(100)) {
				return nil, fmt.Errorf("account %s: contracts[%d]: on_demand_discount_percent %s out of 0..100", a.ID, j, c.Percent)
			}
			for _, o := range rec.Contracts {
				if c.From.Before(o.To) && o.From.Before(c.To.Time) {
					return nil, fmt.Errorf("account %s: contracts[%d] overlaps another contract", a.ID, j)
				}
			}
			rec.Contracts = append(rec.Contracts, invoices.Contract{OnDemandDiscountPercent: c.Percent, From: c.From.UTC(), To: c.To.UTC()})
		}
		for j, g := range a.Credits {
			name := fmt.Sprintf("account %s: credits[%d]", a.ID, j)
			if g.ID == "" {
				return nil, fmt.Errorf("%s: id is required", name)
			}
			if seen["g:"+g.ID] {
				return nil, fmt.Errorf("%s: grant id %s listed twice", name, g.ID)
			}
			seen["g:"+g.ID] = true
			kind := invoices.GrantKind(g.Kind)
			switch kind {
			case invoices.GrantFree, invoices.GrantPurchased, invoices.GrantPromotional, invoices.GrantCreditNote:
			default:
				return nil, fmt.Errorf("%s (%s): kind %q: want free, purchased, promotional or credit_note", name, g.ID, g.Kind)
			}
			amt, err := rating.ParseCents(g.Amount)
			if err != nil || amt < 0 {
				return nil, fmt.Errorf("%s (%s): amount: want a non-negative decimal string like \"100.00\", got %q", name, g.ID, g.Amount)
			}
			if g.GrantedAt.IsZero() {
				return nil, fmt.Errorf("%s (%s): granted_at is required", name, g.ID)
			}
			if g.ExpiresAt != nil && !g.ExpiresAt.After(g.GrantedAt.Time) {
				return nil, fmt.Errorf("%s (%s): expires_at %s is not after granted_at %s", name, g.ID,
					g.ExpiresAt.Format(time.RFC3339), g.GrantedAt.Format(time.RFC3339))
			}
			gr := invoices.Grant{ID: g.ID, Account: a.ID, Kind: kind, Amount: amt, GrantedAt: g.GrantedAt.UTC()}
			if g.ExpiresAt != nil {
				e := g.ExpiresAt.UTC()
				gr.ExpiresAt = &e
			}
			rec.Grants = append(rec.Grants, gr)
		}
		imp.Accounts = append(imp.Accounts, rec)
	}
	for i := range f.Payments {
		n := &f.Payments[i]
		if err := checkKeys(n, paymentKeys, fmt.Sprintf("payments[%d]", i), nil); err != nil {
			return nil, err
		}
		var p payment
		if err := n.Decode(&p); err != nil {
			return nil, fmt.Errorf("payments[%d] (line %d): %w", i, n.Line, err)
		}
		name := fmt.Sprintf("payments[%d] (line %d)", i, n.Line)
		if err := checkTexts([]namedText{{"id", p.ID}, {"account", p.Account}, {"invoice", p.Invoice}}); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if p.ID == "" || p.Account == "" {
			return nil, fmt.Errorf("%s: id and account are required", name)
		}
		if seen["p:"+p.ID] {
			return nil, fmt.Errorf("%s: payment id %s listed twice", name, p.ID)
		}
		seen["p:"+p.ID] = true
		amt, err := rating.ParseCents(p.Amount)
		if err != nil || amt <= 0 {
			return nil, fmt.Errorf("%s (%s): amount: want a positive decimal string like \"42.17\", got %q", name, p.ID, p.Amount)
		}
		if p.PaidAt.IsZero() {
			return nil, fmt.Errorf("%s (%s): paid_at is required", name, p.ID)
		}
		pay := invoices.Payment{ID: p.ID, Account: p.Account, Amount: amt, PaidAt: p.PaidAt.UTC(), Invoice: p.Invoice}
		switch {
		case p.For == "credits" && p.Invoice == "":
			pay.ForCredits = true
		case p.Invoice != "" && (p.For == "" || p.For == "invoice"):
		default:
			return nil, fmt.Errorf("%s (%s): a payment is either `for: credits` or names an `invoice`", name, p.ID)
		}
		imp.Payments = append(imp.Payments, pay)
	}
	return imp, nil
}

// The keys each record may have: any other is refused, so a misspelt key (expires: for expires_at)
// never leaves a field at its default unnoticed.
var (
	accountKeys  = keySet("id", "name", "email", "payment_method", "spend_limit_override", "contracts", "credits")
	contractKeys = keySet("on_demand_discount_percent", "from", "to")
	grantKeys    = keySet("id", "kind", "amount", "granted_at", "expires_at")
	paymentKeys  = keySet("id", "account", "amount", "paid_at", "for", "invoice")
	accountLists = map[string]map[string]bool{"contracts": contractKeys, "credits": grantKeys}
)

func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// checkKeys refuses a key of record n (named where) that allowed lacks, naming its line; the records
// of a list that nested names by key (an account's contracts and credits) are checked too.
func checkKeys(n *yaml.Node, allowed map[string]bool, where string, nested map[string]map[string]bool) error {
	if n.Kind != yaml.MappingNode {
		return nil // the decoder says what is wrong with it
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !allowed[k.Value] {
			return fmt.Errorf("line %d: %s: unknown key %q", k.Line, where, k.Value)
		}
		if sub := nested[k.Value]; sub != nil && v.Kind == yaml.SequenceNode {
			for j, c := range v.Content {
				if err := checkKeys(c, sub, fmt.Sprintf("%s.%s[%d]", where, k.Value, j), nil); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// contractNodes returns the nodes of account node n's contracts, in order.
func contractNodes(n *yaml.Node) []*yaml.Node {
	if v := yamlnode.Value(n, "contracts"); v != nil && v.Kind == yaml.SequenceNode {
		return v.Content
	}
	return nil
}

// namedText is a text field of a record and its name.
type namedText struct{ name, value string }

// checkTexts refuses a text with a NUL character or invalid UTF-8: PostgreSQL cannot store either,
// and the same file must be refused (or accepted) by both databases alike.
func checkTexts(texts []namedText) error {
	for _, t := range texts {
		if strings.ContainsRune(t.value, 0) {
			return fmt.Errorf("%s %q contains a NUL character", t.name, t.value)
		}
		if !utf8.ValidString(t.value) {
			return fmt.Errorf("%s %q is not valid UTF-8", t.name, t.value)
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func mappingKeys(n *yaml.Node) map[string]bool {
	keys := map[string]bool{}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			keys[n.Content[i].Value] = true
		}
	}
	return keys
}
