// Package accountsfile reads the accounts-and-payments file of DESIGN §6 (YAML, or JSON, which YAML
// includes) into an invoices.Import, keeping track of which fields each record sets so an import
// leaves the others as stored.
package accountsfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

	"billrun/internal/yamlnode"
	"billrun/invoices"
	"billrun/rating"
)

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

// The keys each record may have, in the order messages list them: any other is refused, so a
// misspelt key (expires: for expires_at) never leaves a field at its default unnoticed.
var (
	fileKeys     = []string{"accounts", "payments"}
	accountKeys  = []string{"id", "name", "email", "payment_method", "spend_limit_override", "contracts", "credits"}
	contractKeys = []string{"on_demand_discount_percent", "from", "to"}
	grantKeys    = []string{"id", "kind", "amount", "granted_at", "expires_at"}
	paymentKeys  = []string{"id", "account", "amount", "paid_at", "for", "invoice"}
)

// Parse decodes and validates an accounts file. An error names the line of the value at fault (of
// its record when the value is missing), the record — an account or payment by its id, else by its
// place in its list — and the field, and says what the field wants:
//
//	line 9: account a2, credits[0] (g2): amount: want a non-negative decimal like "100.00", got "abc"
//
// The file is read field by field from its yaml.Node tree rather than decoded into structs, as
// only the nodes know where each value was written.
func Parse(data []byte) (*invoices.Import, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &invoices.Import{}, nil // an empty file imports nothing
		}
		return nil, jsonSyntaxError(data, err)
	}
	// A document after the first would be ignored, and its records with it; an empty one (a
	// trailing ---) is harmless.
	for {
		var next yaml.Node
		if err := dec.Decode(&next); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, jsonSyntaxError(data, err)
		}
		if len(next.Content) > 0 && !yamlnode.IsNull(next.Content[0]) {
			return nil, fmt.Errorf("line %d: a second document, after --- on line %d: want accounts and payments in one document",
				next.Content[0].Line, next.Line)
		}
	}
	p := parser{imp: &invoices.Import{}, accountIDs: map[string]int{}, grantIDs: map[string]int{},
		paymentIDs: map[string]int{}}
	if len(doc.Content) == 0 {
		return p.imp, nil
	}
	root := resolve(doc.Content[0])
	if yamlnode.IsNull(root) {
		return p.imp, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of accounts and payments (accounts: …), got %s",
			root.Line, describe(root))
	}
	file := record{n: root}
	if err := file.checkKeys(fileKeys); err != nil {
		return nil, err
	}
	accounts, err := file.list("accounts", "a list of accounts")
	if err != nil {
		return nil, err
	}
	for i, n := range accounts {
		if err := p.account(i, n); err != nil {
			return nil, err
		}
	}
	payments, err := file.list("payments", "a list of payments")
	if err != nil {
		return nil, err
	}
	for i, n := range payments {
		if err := p.payment(i, n); err != nil {
			return nil, err
		}
	}
	return p.imp, nil
}

// jsonSyntaxError returns yaml.v3's syntax error err in data, or, when data is a JSON document that
// encoding/json finds a syntax error in, that error at its line and column. yaml.v3 (v3.0.1) numbers
// a parser error's line from 0, and takes the line where the collection holding the mistake starts,
// not the mistake's own; when that is the first line, it takes the mistake's line, and gives none if
// that is the first too. For a file written as one JSON object that names line 1, or no line, or a
// line early, wherever the mistake is. A document that starts {" is taken for JSON: a YAML flow
// mapping with a quoted first key and unquoted ones after it is told where it stops being JSON.
func jsonSyntaxError(data []byte, err error) error {
	body := bytes.TrimPrefix(data, []byte("\uFEFF")) // yaml.v3 skips a byte order mark; encoding/json does not
	bom := len(data) - len(body)
	rest := bytes.TrimLeft(body, " \t\r\n")
	if !bytes.HasPrefix(rest, []byte("{")) || !bytes.HasPrefix(bytes.TrimLeft(rest[1:], " \t\r\n"), []byte(`"`)) {
		return err
	}
	var se *json.SyntaxError
	if !errors.As(json.Unmarshal(body, new(json.RawMessage)), &se) {
		return err // JSON that yaml.v3 refuses: there is no better line to give
	}
	at := bom + max(int(se.Offset)-1, 0) // the byte at fault, or the last one when the document is cut short
	lineStart := max(bytes.LastIndexByte(data[:at], '\n')+1, bom)
	return fmt.Errorf("line %d, column %d: not valid JSON: %w", bytes.Count(data[:at], []byte("\n"))+1,
		utf8.RuneCount(data[lineStart:at])+1, se)
}

// parser builds an import, remembering the line of each id it has read: an id is unique in its kind.
type parser struct {
	imp                              *invoices.Import
	accountIDs, grantIDs, paymentIDs map[string]int
}

// account reads accounts[i], node n.
func (p *parser) account(i int, n *yaml.Node) error {
	r, err := item(n, fmt.Sprintf("accounts[%d]", i), "account", "an account")
	if err != nil {
		return err
	}
	if err := r.checkKeys(accountKeys); err != nil {
		return err
	}
	id, err := p.id(r, p.accountIDs, "acct_00001")
	if err != nil {
		return err
	}
	rec := invoices.AccountRecord{ID: id}
	if rec.Name, err = r.optText("name"); err != nil {
		return err
	}
	if rec.Email, err = r.optText("email"); err != nil {
		return err
	}
	if rec.PaymentMethod, err = r.boolean("payment_method"); err != nil {
		return err
	}
	rec.SpendLimitOverrideSet = r.has("spend_limit_override")
	if v := r.value("spend_limit_override"); v != nil {
		d, err := r.money("spend_limit_override", v, "25000.00", false)
		if err != nil {
			return err
		}
		rec.SpendLimitOverride = &d
	}
	rec.ContractsSet = r.has("contracts")
	contracts, err := r.list("contracts", "a list of contracts")
	if err != nil {
		return err
	}
	lines := make([]int, 0, len(contracts)) // where each contract starts
	for j, n := range contracts {
		c, cr, err := contract(j, n, r.where)
		if err != nil {
			return err
		}
		for k, o := range rec.Contracts {
			if c.Overlaps(o) {
				return cr.errorf(nil, "from, to", "%s to %s overlaps contracts[%d] on line %d (%s to %s): want contracts that do not overlap",
					c.From.Format(time.DateOnly), contractEnd(c), k, lines[k], o.From.Format(time.DateOnly), contractEnd(o))
			}
		}
		rec.Contracts = append(rec.Contracts, c)
		lines = append(lines, cr.n.Line)
	}
	credits, err := r.list("credits", "a list of credit grants")
	if err != nil {
		return err
	}
	for j, n := range credits {
		g, lo, err := p.grant(j, n, r.where, id)
		if err != nil {
			return err
		}
		rec.Grants = append(rec.Grants, g)
		if lo.Fields != 0 {
			if rec.GrantsLeftOut == nil {
				rec.GrantsLeftOut = map[string]invoices.LeftOut{}
			}
			rec.GrantsLeftOut[g.ID] = lo
		}
	}
	p.imp.Accounts = append(p.imp.Accounts, rec)
	return nil
}

// id reads record r's required id (like example), which no other record of its kind (seen: the line
// of each id read so far) may have.
func (p *parser) id(r record, seen map[string]int, example string) (string, error) {
	id, err := r.text("id")
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", r.errorf(r.value("id"), "id", "missing, want an id like %s", example)
	}
	v := r.value("id")
	if first, ok := seen[id]; ok {
		return "", r.errorf(v, "id", "%q is listed twice, first on line %d", id, first)
	}
	seen[id] = v.Line
	return id, nil
}

// contract reads contracts[j], node n, of the account named account, and returns it with its record.
func contract(j int, n *yaml.Node, account string) (invoices.Contract, record, error) {
	r, err := item(n, fmt.Sprintf("%s, contracts[%d]", account, j), "", "a contract")
	if err != nil {
		return invoices.Contract{}, record{}, err
	}
	if err := r.checkKeys(contractKeys); err != nil {
		return invoices.Contract{}, record{}, err
	}
	const percentKey, percentWant = "on_demand_discount_percent", `a percent from 0 to 100 like "15"`
	v := r.value(percentKey)
	if v == nil {
		return invoices.Contract{}, record{}, r.errorf(v, percentKey, "missing, want %s", percentWant)
	}
	percent, err := r.decimal(percentKey, v, percentWant)
	if err != nil {
		return invoices.Contract{}, record{}, err
	}
	// Percents, like money, are decimal strings (DESIGN §11): "1.5e1" is refused as "1e2" is.
	if strings.ContainsAny(v.Value, "eE") {
		return invoices.Contract{}, record{}, r.errorf(v, percentKey, "want %s, not exponent notation, got %q", percentWant, v.Value)
	}
	if percent.IsNegative() || percent.GreaterThan(decimal.NewFromInt(100)) {
		return invoices.Contract{}, record{}, r.errorf(v, percentKey, "want %s, got %q", percentWant, v.Value)
	}
	// DESIGN §6: contract dates are midnight UTC, month boundaries. A contract without `to` (or with
	// `to: null`) is open-ended: it runs until a later import gives it an end.
	var span [2]time.Time
	for k, key := range []string{"from", "to"} {
		t, err := r.timestamp(key)
		if err != nil {
			return invoices.Contract{}, record{}, err
		}
		if t.IsZero() {
			if key == "to" {
				continue
			}
			return invoices.Contract{}, record{}, r.errorf(nil, key, "missing, want the start of a month, e.g. 2026-01-01")
		}
		if u := t.UTC(); u.Day() != 1 || !u.Equal(u.Truncate(24*time.Hour)) {
			return invoices.Contract{}, record{}, r.errorf(r.value(key), key,
				"want the start of a month (midnight UTC on the 1st), got %s", t.Format(time.RFC3339))
		}
		span[k] = t.UTC()
	}
	c := invoices.Contract{OnDemandDiscountPercent: percent, From: span[0], To: span[1]}
	if !c.To.IsZero() && !c.To.After(c.From) {
		return invoices.Contract{}, record{}, r.errorf(r.value("to"), "to", "want a month start after from (%s), got %s",
			c.From.Format(time.DateOnly), c.To.Format(time.DateOnly))
	}
	return c, r, nil
}

// contractEnd is c's end date as messages show it: "open-ended" when it has none.
func contractEnd(c invoices.Contract) string {
	if c.To.IsZero() {
		return "open-ended"
	}
	return c.To.Format(time.DateOnly)
}

// grantKinds are the kinds of credit grant, as messages list them.
const grantKinds = "free, purchased, promotional or credit_note"

// grant reads credits[j], node n, of the account with id account, named so, and returns what the
// record leaves out (DESIGN §11): a stored grant keeps those fields, a new one requires kind, amount
// and granted_at.
func (p *parser) grant(j int, n *yaml.Node, name, account string) (invoices.Grant, invoices.LeftOut, error) {
	var lo invoices.LeftOut
	where := fmt.Sprintf("%s, credits[%d]", name, j)
	if id, ok := usableID(n); ok {
		where += " (" + id + ")"
	}
	r, err := item(n, where, "", "a credit grant")
	if err != nil {
		return invoices.Grant{}, lo, err
	}
	if err := r.checkKeys(grantKeys); err != nil {
		return invoices.Grant{}, lo, err
	}
	id, err := p.id(r, p.grantIDs, "cg_1")
	if err != nil {
		return invoices.Grant{}, lo, err
	}
	g := invoices.Grant{ID: id, Account: account}
	if !r.leftOut(&lo, invoices.GrantKindField, "kind", grantKinds) {
		kind, err := r.text("kind")
		if err != nil {
			return invoices.Grant{}, lo, err
		}
		switch k := invoices.GrantKind(kind); {
		case kind == "":
			return invoices.Grant{}, lo, r.errorf(r.value("kind"), "kind", "missing, want %s", grantKinds)
		case k != invoices.GrantFree && k != invoices.GrantPurchased && k != invoices.GrantPromotional && k != invoices.GrantCreditNote:
			return invoices.Grant{}, lo, r.errorf(r.value("kind"), "kind", "want %s, got %q", grantKinds, kind)
		}
		g.Kind = invoices.GrantKind(kind)
	}
	if !r.leftOut(&lo, invoices.GrantAmountField, "amount", moneyWant("100.00", false)) {
		if g.Amount, err = r.cents("amount", "100.00", false); err != nil {
			return invoices.Grant{}, lo, err
		}
	}
	const grantedWant = "a time like 2026-09-02T10:00:00Z"
	if !r.leftOut(&lo, invoices.GrantGrantedAtField, "granted_at", grantedWant) {
		granted, err := r.timestamp("granted_at")
		if err != nil {
			return invoices.Grant{}, lo, err
		}
		if granted.IsZero() {
			return invoices.Grant{}, lo, r.errorf(nil, "granted_at", "missing, want %s", grantedWant)
		}
		g.GrantedAt = granted.UTC()
	}
	// Left out, a stored grant keeps its expiry and a new one has none; null removes it.
	if !r.leftOut(&lo, invoices.GrantExpiresAtField, "expires_at", "") {
		expires, err := r.timestamp("expires_at")
		if err != nil {
			return invoices.Grant{}, lo, err
		}
		if !expires.IsZero() {
			// With granted_at left out, the store checks the expiry against the stored one.
			if !g.GrantedAt.IsZero() && !expires.After(g.GrantedAt) {
				return invoices.Grant{}, lo, r.errorf(r.value("expires_at"), "expires_at",
					"want a time after granted_at (%s) or null, got %s", g.GrantedAt.Format(time.RFC3339), expires.Format(time.RFC3339))
			}
			e := expires.UTC()
			g.ExpiresAt = &e
		}
	}
	if p.imp.GrantsAt == nil {
		p.imp.GrantsAt = map[string]map[string]string{}
	}
	p.imp.GrantsAt[id] = r.places("amount")
	return g, lo, nil
}

// payment reads payments[i], node n, and notes what the record leaves out (DESIGN §11): a stored
// payment keeps those fields, a new one requires them all.
func (p *parser) payment(i int, n *yaml.Node) error {
	r, err := item(n, fmt.Sprintf("payments[%d]", i), "payment", "a payment")
	if err != nil {
		return err
	}
	if err := r.checkKeys(paymentKeys); err != nil {
		return err
	}
	id, err := p.id(r, p.paymentIDs, "pay_1")
	if err != nil {
		return err
	}
	pay := invoices.Payment{ID: id}
	var lo invoices.LeftOut
	const accountWant = "the id of the account that paid"
	if !r.leftOut(&lo, invoices.PaymentAccountField, "account", accountWant) {
		if pay.Account, err = r.text("account"); err != nil {
			return err
		}
		if pay.Account == "" {
			return r.errorf(r.value("account"), "account", "missing, want %s", accountWant)
		}
	}
	if !r.leftOut(&lo, invoices.PaymentAmountField, "amount", moneyWant("42.17", true)) {
		if pay.Amount, err = r.cents("amount", "42.17", true); err != nil {
			return err
		}
	}
	const paidWant = "a time like 2026-10-05T08:00:00Z"
	if !r.leftOut(&lo, invoices.PaymentPaidAtField, "paid_at", paidWant) {
		paid, err := r.timestamp("paid_at")
		if err != nil {
			return err
		}
		if paid.IsZero() {
			return r.errorf(nil, "paid_at", "missing, want %s", paidWant)
		}
		pay.PaidAt = paid.UTC()
	}
	// The purpose is invoice and for together: either one given sets it.
	const purposeWant = "the number of the invoice paid, or for: credits"
	if r.has("for") || !r.leftOut(&lo, invoices.PaymentPurposeField, "invoice", purposeWant) {
		if pay.Invoice, err = r.text("invoice"); err != nil {
			return err
		}
		purpose, err := r.text("for")
		if err != nil {
			return err
		}
		switch {
		case purpose != "" && purpose != "credits" && purpose != "invoice":
			return r.errorf(r.value("for"), "for", "want credits or invoice, got %q", purpose)
		case purpose == "credits" && pay.Invoice != "":
			return r.errorf(r.value("invoice"), "invoice",
				"want none with for: credits (a payment pays an invoice or buys credits), got %q", pay.Invoice)
		case purpose == "credits":
			pay.ForCredits = true
		case pay.Invoice == "" && purpose == "invoice" && !r.has("invoice"):
			// for: invoice with the invoice left out: a stored payment keeps the invoice it pays
			// (DESIGN §11); a new one needs it.
			r.leftOut(&lo, invoices.PaymentInvoiceField, "invoice", purposeWant)
		case pay.Invoice == "":
			return r.errorf(r.value("invoice"), "invoice", "missing, want %s", purposeWant)
		}
	}
	p.imp.Payments = append(p.imp.Payments, pay)
	if p.imp.PaymentsAt == nil {
		p.imp.PaymentsAt = map[string]map[string]string{}
	}
	p.imp.PaymentsAt[id] = r.places("account", "invoice")
	if lo.Fields != 0 {
		if p.imp.PaymentsLeftOut == nil {
			p.imp.PaymentsLeftOut = map[string]invoices.LeftOut{}
		}
		p.imp.PaymentsLeftOut[id] = lo
	}
	return nil
}

// record is one mapping of the file — the file itself, an account, a contract, a grant or a
// payment — named in errors by where ("account a2, credits[0] (g2)"; empty for the file).
type record struct {
	n     *yaml.Node
	where string
}

// places returns where the file writes record r ("": "line 9: payment p3") and those of its fields
// it writes ("account": "line 9: payment p3: account"), for the errors only the database finds
// (invoices.Import.At).
func (r record) places(fields ...string) map[string]string {
	at := map[string]string{"": fmt.Sprintf("line %d: %s", r.n.Line, r.where)}
	for _, key := range fields {
		if v := r.value(key); v != nil {
			at[key] = fmt.Sprintf("line %d: %s: %s", v.Line, r.where, key)
		}
	}
	return at
}

// item returns list item n as a record named by its id ("account a2") when it has a usable one and
// noun is set, else by where, its place ("accounts[0]"); an item that is no mapping is an error
// saying it wants what (the article and noun: "an account").
func item(n *yaml.Node, where, noun, what string) (record, error) {
	n = resolve(n)
	if id, ok := usableID(n); ok && noun != "" {
		where = noun + " " + id
	}
	if n.Kind != yaml.MappingNode {
		return record{}, fmt.Errorf("line %d: %s: want %s, a mapping (id: …), got %s", n.Line, where, what, describe(n))
	}
	return record{n: n, where: where}, nil
}

// usableID returns the id of record node n if it can name the record in a message: printable text.
func usableID(n *yaml.Node) (string, bool) {
	v := resolve(yamlnode.Value(resolve(n), "id"))
	if v == nil || v.Kind != yaml.ScalarNode || yamlnode.IsNull(v) || v.Value == "" || !utf8.ValidString(v.Value) {
		return "", false
	}
	for _, c := range v.Value {
		if !unicode.IsPrint(c) {
			return "", false
		}
	}
	return v.Value, true
}

// errorf returns an error in field of r at the line of v, the value at fault, or of r when v is nil
// (the field is missing).
func (r record) errorf(v *yaml.Node, field, format string, args ...any) error {
	line := r.n.Line
	if v != nil {
		line = v.Line
	}
	where := ""
	if r.where != "" {
		where = r.where + ": "
	}
	return fmt.Errorf("line %d: %s%s: %s", line, where, field, fmt.Sprintf(format, args...))
}

// checkKeys refuses a key of r that allowed lacks, and a key given twice.
func (r record) checkKeys(allowed []string) error {
	for i := 0; i+1 < len(r.n.Content); i += 2 {
		k := r.n.Content[i]
		name := k.Value
		if k.Kind != yaml.ScalarNode || strings.ContainsFunc(name, func(c rune) bool { return !unicode.IsGraphic(c) || c == ' ' }) || name == "" {
			name = strconv.Quote(name)
		}
		if !slices.Contains(allowed, k.Value) {
			return r.errorf(k, name, "unknown key, want one of %s", strings.Join(allowed, ", "))
		}
		for j := 0; j < i; j += 2 {
			if r.n.Content[j].Value == k.Value {
				return r.errorf(k, name, "listed twice in one record, first on line %d", r.n.Content[j].Line)
			}
		}
	}
	return nil
}

// has reports whether r has key, null or not.
func (r record) has(key string) bool { return yamlnode.Value(r.n, key) != nil }

// leftOut reports whether r leaves out key (null is given, not left out) and then adds field f to lo;
// when want is set a new record requires the field, and lo.IfNew, unless set already, says it is
// missing and wants want.
func (r record) leftOut(lo *invoices.LeftOut, f invoices.Fields, key, want string) bool {
	if r.has(key) {
		return false
	}
	lo.Fields |= f
	if want != "" && lo.IfNew == nil {
		lo.IfNew = &invoices.RequiredFieldError{Msg: r.errorf(nil, key, "missing, want %s", want).Error()}
	}
	return true
}

// value returns the value of key in r, or nil when r has no key or its value is null: either way the
// field is missing.
func (r record) value(key string) *yaml.Node {
	v := resolve(yamlnode.Value(r.n, key))
	if v == nil || yamlnode.IsNull(v) {
		return nil
	}
	return v
}

// list returns the items of list field key, none when it is missing; what names the list in errors.
func (r record) list(key, what string) ([]*yaml.Node, error) {
	v := r.value(key)
	if v == nil {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, r.errorf(v, key, "want %s, got %s", what, describe(v))
	}
	return v.Content, nil
}

// optText returns the text of field key, nil when it is missing. It refuses text PostgreSQL cannot
// store (a NUL character, invalid UTF-8): the same file must be refused, or accepted, by both
// databases alike.
func (r record) optText(key string) (*string, error) {
	v := r.value(key)
	if v == nil {
		return nil, nil
	}
	var s string
	if v.Kind != yaml.ScalarNode || v.Decode(&s) != nil {
		return nil, r.errorf(v, key, "want text, got %s", describe(v))
	}
	if strings.ContainsRune(s, 0) {
		return nil, r.errorf(v, key, "want text without NUL characters, got %q", s)
	}
	if !utf8.ValidString(s) {
		return nil, r.errorf(v, key, "want valid UTF-8 text, got %q", s)
	}
	return &s, nil
}

// text returns the text of field key, "" when it is missing; see optText.
func (r record) text(key string) (string, error) {
	s, err := r.optText(key)
	if s == nil {
		return "", err
	}
	return *s, err
}

// boolean returns the value of field key, true or false, nil when it is missing.
func (r record) boolean(key string) (*bool, error) {
	v := r.value(key)
	if v == nil {
		return nil, nil
	}
	// Only a YAML boolean: decoded into a bool, yaml.v3 also reads the strings "yes", "no", "on",
	// "off", "y" and "n" — quoted too, so a JSON "payment_method": "Y" was a payment method on file
	// while "true" was refused.
	var b bool
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || v.Decode(&b) != nil {
		return nil, r.errorf(v, key, "want true or false, got %s", describe(v))
	}
	return &b, nil
}

// timestamp returns the time of field key, the zero time when it is missing: a YAML timestamp, or — as
// JSON has no timestamps, and a YAML string may be quoted — a string in RFC 3339 (its T and Z in
// either case) or a date, YYYY-MM-DD, which is its midnight UTC as the same date unquoted in YAML is
// (DESIGN §6 writes contract dates so).
func (r record) timestamp(key string) (time.Time, error) {
	v := r.value(key)
	if v == nil {
		return time.Time{}, nil
	}
	if v.Kind == yaml.ScalarNode && v.Tag == "!!timestamp" && !offsetOutOfRange(v.Value) {
		var t time.Time
		if err := v.Decode(&t); err == nil {
			return t, nil
		}
	}
	if v.Kind == yaml.ScalarNode && (v.Tag == "!!str" || v.Tag == "") {
		if t, err := rating.ParseRFC3339(v.Value); err == nil {
			return t, nil
		}
		if t, err := time.Parse(time.DateOnly, v.Value); err == nil {
			return t, nil
		}
		// An unquoted YAML timestamp yaml.v3 does not resolve: a space before the time together with
		// an offset, as PyYAML writes an aware datetime (2026-09-02 10:00:00+00:00).
		quoted := yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle
		if s, ok := yamlTimestampRFC3339(v.Value); ok && v.Style&quoted == 0 {
			if t, err := rating.ParseRFC3339(s); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, r.errorf(v, key, "want a time in RFC 3339, e.g. 2026-10-05T14:00:00Z, or a date, 2026-10-05, got %s",
		describe(v))
}

// yamlTimestamp is YAML 1.1's timestamp with a time (yaml.org/type/timestamp.html): the date, T or
// spaces, the time with an optional fraction, then optionally spaces and Z or an offset of ±h, ±hh or
// ±hh:mm; without either it is UTC.
var yamlTimestamp = regexp.MustCompile(`^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[Tt]|[ \t]+)([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]*))?[ \t]*(Z|[+-][0-9]{1,2}(?::[0-9]{2})?)?$`)

// yamlTimestampRFC3339 rewrites the YAML timestamp s in RFC 3339, for rating.ParseRFC3339 to check
// and read, and reports whether s is one.
func yamlTimestampRFC3339(s string) (string, bool) {
	m := yamlTimestamp.FindStringSubmatch(s)
	if m == nil {
		return "", false
	}
	pad := func(d string) string {
		if len(d) == 1 {
			return "0" + d
		}
		return d
	}
	frac := ""
	if m[7] != "" {
		frac = "." + m[7]
	}
	zone := "Z"
	if z := m[8]; z != "" && z != "Z" {
		hh, mm, _ := strings.Cut(z[1:], ":")
		if mm == "" {
			mm = "00"
		}
		zone = z[:1] + pad(hh) + ":" + mm
	}
	return m[1] + "-" + pad(m[2]) + "-" + pad(m[3]) + "T" + pad(m[4]) + ":" + m[5] + ":" + m[6] + frac + zone, true
}

// offsetOutOfRange reports whether s ends in a numeric offset ±hh:mm beyond ±23:59, which the YAML
// decoder (time.Parse) takes — "+24:00" a day off — and RFC 3339 does not.
func offsetOutOfRange(s string) bool {
	n := len(s)
	return n > 6 && (s[n-6] == '+' || s[n-6] == '-') && s[n-3] == ':' && (s[n-5:n-3] > "23" || s[n-2:] > "59")
}

// decimal returns the decimal number value v of field key holds, written as a string; want says in
// errors what the field takes. Money and percents in input files are decimal strings (DESIGN §11): a
// YAML or JSON number (100.5, unquoted) is refused, naming the field, rather than read.
func (r record) decimal(key string, v *yaml.Node, want string) (decimal.Decimal, error) {
	if v.Kind != yaml.ScalarNode {
		return decimal.Decimal{}, r.errorf(v, key, "want %s, got %s", want, describe(v))
	}
	if t := v.ShortTag(); t == "!!int" || t == "!!float" {
		return decimal.Decimal{}, r.errorf(v, key, "want %s, a decimal string (quoted), got the number %s", want, v.Value)
	}
	d, err := decimal.NewFromString(v.Value)
	if err != nil {
		return decimal.Decimal{}, r.errorf(v, key, "want %s, got %q", want, v.Value)
	}
	return d, nil
}

// money returns the amount of money value v of field key holds: a decimal of whole cents, not
// negative (positive if positive is set), like example. Money is written as a decimal string
// (DESIGN §11), never in exponent notation: no one bills "1e2", and "1e30" is beyond any amount
// billrun can hold.
func (r record) money(key string, v *yaml.Node, example string, positive bool) (decimal.Decimal, error) {
	want := moneyWant(example, positive)
	d, err := r.decimal(key, v, want)
	if err != nil {
		return decimal.Decimal{}, err
	}
	if strings.ContainsAny(v.Value, "eE") { // the decimal package read an exponent
		return decimal.Decimal{}, r.errorf(v, key, "want a decimal like %q, not exponent notation, got %q", example, v.Value)
	}
	if d.IsNegative() || positive && d.IsZero() {
		return decimal.Decimal{}, r.errorf(v, key, "want %s, got %q", want, v.Value)
	}
	if !d.Equal(d.Round(2)) {
		return decimal.Decimal{}, r.errorf(v, key, "want whole cents (at most two decimal places), got %q", v.Value)
	}
	// An amount billrun cannot hold in cents would wrap around (a spend limit of 10^20 became a
	// negative one, blocking the account).
	if _, err := rating.CentsFromDecimal(d); err != nil {
		return decimal.Decimal{}, r.errorf(v, key, "want %s: %v", want, err)
	}
	return d, nil
}

// cents returns the required amount of money in field key as rating.Cents; see money.
func (r record) cents(key, example string, positive bool) (rating.Cents, error) {
	v := r.value(key)
	if v == nil {
		return 0, r.errorf(nil, key, "missing, want %s", moneyWant(example, positive))
	}
	if _, err := r.money(key, v, example, positive); err != nil {
		return 0, err
	}
	c, err := rating.ParseCents(v.Value)
	if err != nil {
		return 0, r.errorf(v, key, "want %s, got %q: %v", moneyWant(example, positive), v.Value, err)
	}
	return c, nil
}

// moneyWant says what a money field like example wants.
func moneyWant(example string, positive bool) string {
	if positive {
		return fmt.Sprintf("a positive decimal like %q", example)
	}
	return fmt.Sprintf("a non-negative decimal like %q", example)
}

// resolve follows an alias (*name) to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// describe shows value v in a message: a scalar quoted as written, else what kind of node it is.
func describe(v *yaml.Node) string {
	switch {
	case v.Kind == yaml.SequenceNode:
		return "a list"
	case v.Kind == yaml.MappingNode:
		return "a mapping"
	case yamlnode.IsNull(v):
		return "null"
	}
	return strconv.Quote(v.Value)
}
