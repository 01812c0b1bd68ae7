package accountsfile

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"billrun/invoices"
)

// designExample is DESIGN §6's example file, with a second, partial record.
const designExample = `
accounts:
  - id: acct_00001
    name: Acme AI
    email: billing@acme.test
    payment_method: true
    spend_limit_override: null
    contracts:
      - {on_demand_discount_percent: "15", from: 2026-01-01, to: 2027-01-01}
    credits:
      - {id: cg_1, kind: free, amount: "1.00", granted_at: 2026-01-10T00:00:00Z, expires_at: null}
      - {id: cg_2, kind: purchased, amount: "100.00", granted_at: 2026-09-02T10:00:00Z}
  - {id: acct_00002, payment_method: false}
payments:
  - {id: pay_1, account: acct_00001, amount: "100.00", paid_at: 2026-09-02T10:00:00Z, for: credits}
  - {id: pay_2, account: acct_00001, amount: "42.17", paid_at: 2026-10-05T08:00:00Z, invoice: INV-2026-000123}
`

func TestParseDesignExample(t *testing.T) {
	imp, err := Parse([]byte(designExample))
	if err != nil {
		t.Fatal(err)
	}
	a := imp.Accounts[0]
	if !a.SpendLimitOverrideSet || a.SpendLimitOverride != nil || !a.ContractsSet || len(a.Contracts) != 1 {
		t.Errorf("account 1 = %+v", a)
	}
	if a.Grants[1].Amount != 10000 || a.Grants[0].ExpiresAt != nil {
		t.Errorf("grants = %+v", a.Grants)
	}
	b := imp.Accounts[1]
	if b.Name != nil || b.SpendLimitOverrideSet || b.ContractsSet || b.PaymentMethod == nil || *b.PaymentMethod {
		t.Errorf("account 2 (partial record) = %+v", b)
	}
	if p := imp.Payments[1]; p.Amount != 4217 || p.Invoice != "INV-2026-000123" || p.ForCredits {
		t.Errorf("payment 2 = %+v", p)
	}
	if !imp.Payments[0].ForCredits {
		t.Errorf("payment 1 not for credits")
	}
}

// TestParseDesignExampleAsJSON: DESIGN §6 takes the file as YAML or JSON. The same example written as
// JSON — where times are strings, contract dates "2026-01-01" among them — imports exactly as the
// YAML does; so do quoted YAML times and RFC 3339's lower-case t and z. A string that is no time is
// refused, naming its line.
func TestParseDesignExampleAsJSON(t *testing.T) {
	yamlImp, err := Parse([]byte(designExample))
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"JSON": `{"accounts": [{"id": "acct_00001", "name": "Acme AI", "email": "billing@acme.test",
  "payment_method": true, "spend_limit_override": null,
  "contracts": [{"on_demand_discount_percent": "15", "from": "2026-01-01", "to": "2027-01-01"}],
  "credits": [{"id": "cg_1", "kind": "free", "amount": "1.00", "granted_at": "2026-01-10T00:00:00Z", "expires_at": null},
    {"id": "cg_2", "kind": "purchased", "amount": "100.00", "granted_at": "2026-09-02T10:00:00Z"}]},
  {"id": "acct_00002", "payment_method": false}],
 "payments": [{"id": "pay_1", "account": "acct_00001", "amount": "100.00", "paid_at": "2026-09-02T10:00:00Z", "for": "credits"},
  {"id": "pay_2", "account": "acct_00001", "amount": "42.17", "paid_at": "2026-10-05T08:00:00Z", "invoice": "INV-2026-000123"}]}`,
		"quoted YAML, lower-case t and z": `
accounts:
  - id: acct_00001
    name: Acme AI
    email: billing@acme.test
    payment_method: true
    spend_limit_override: null
    contracts:
      - {on_demand_discount_percent: "15", from: "2026-01-01", to: '2027-01-01T00:00:00z'}
    credits:
      - {id: cg_1, kind: free, amount: "1.00", granted_at: "2026-01-10", expires_at: null}
      - {id: cg_2, kind: purchased, amount: "100.00", granted_at: "2026-09-02t12:00:00+02:00"}
  - {id: acct_00002, payment_method: false}
payments:
  - {id: pay_1, account: acct_00001, amount: "100.00", paid_at: "2026-09-02T10:00:00z", for: credits}
  - {id: pay_2, account: acct_00001, amount: "42.17", paid_at: '2026-10-05t08:00:00Z', invoice: INV-2026-000123}
`,
	} {
		imp, err := Parse([]byte(text))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Where each payment and grant is written differs between the texts; what they import must not.
		imp.PaymentsAt, imp.GrantsAt = yamlImp.PaymentsAt, yamlImp.GrantsAt
		if !reflect.DeepEqual(imp, yamlImp) {
			t.Errorf("%s imports\n%+v\nwant, as the YAML example,\n%+v", name, imp, yamlImp)
		}
	}
	_, err = Parse([]byte(`{"accounts": [{"id": "a",
  "contracts": [{"on_demand_discount_percent": "15", "from": "January", "to": "2027-01-01"}]}]}`))
	if want := `line 2: account a, contracts[0]: from: want a time in RFC 3339`; err == nil || !strings.HasPrefix(err.Error(), want) ||
		!strings.Contains(err.Error(), `got "January"`) {
		t.Errorf("a contract from January: %v, want an error starting %q and naming the value", err, want)
	}
}

// TestParseNumbersRefused: money and percents in input files are decimal strings (DESIGN §11), so a
// plain number — unquoted in YAML, or a JSON number — is refused with the file's line, the record and
// the field, never read; the same values written as strings are read.
func TestParseNumbersRefused(t *testing.T) {
	for _, tc := range []struct{ name, in, at string }{
		{"JSON spend limit", `{"accounts": [{"id": "a", "spend_limit_override": 25000}]}`,
			`line 1: account a: spend_limit_override: want a non-negative decimal like "25000.00", a decimal string (quoted), got the number 25000`},
		{"JSON grant amount", "{\"accounts\": [{\"id\": \"a\",\n  \"credits\": [{\"id\": \"g\", \"kind\": \"free\", \"amount\": 100.5, \"granted_at\": \"2026-01-01\"}]}]}",
			`line 2: account a, credits[0] (g): amount: want a non-negative decimal like "100.00", a decimal string (quoted), got the number 100.5`},
		{"JSON payment amount", "{\"payments\": [\n {\"id\": \"p\", \"account\": \"a\", \"amount\": 42.17, \"paid_at\": \"2026-01-02\", \"for\": \"credits\"}]}",
			`line 2: payment p: amount: want a positive decimal like "42.17", a decimal string (quoted), got the number 42.17`},
		{"YAML grant amount", "accounts:\n  - id: a\n    credits:\n      - {id: g, kind: free, amount: 100.00, granted_at: 2026-01-01}\n",
			`line 4: account a, credits[0] (g): amount: want a non-negative decimal like "100.00", a decimal string (quoted), got the number 100.00`},
		{"YAML integer payment amount", "payments:\n  - {id: p, account: a, amount: 12, paid_at: 2026-01-02, for: credits}\n",
			`line 2: payment p: amount: want a positive decimal like "42.17", a decimal string (quoted), got the number 12`},
		{"YAML contract percent", "accounts:\n  - id: a\n    contracts:\n      - {on_demand_discount_percent: 15, from: 2026-01-01, to: 2027-01-01}\n",
			`line 4: account a, contracts[0]: on_demand_discount_percent: want a percent from 0 to 100 like "15", a decimal string (quoted), got the number 15`},
	} {
		_, err := Parse([]byte(tc.in))
		if err == nil || err.Error() != tc.at {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.at)
		}
	}
	imp, err := Parse([]byte(`{"accounts": [{"id": "a", "spend_limit_override": "25000",
  "contracts": [{"on_demand_discount_percent": "15", "from": "2026-01-01"}],
  "credits": [{"id": "g", "kind": "free", "amount": "100.5", "granted_at": "2026-01-01"}]}],
 "payments": [{"id": "p", "account": "a", "amount": "42.17", "paid_at": "2026-01-02", "for": "credits"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := imp.Accounts[0].SpendLimitOverride; got == nil || got.String() != "25000" {
		t.Errorf("spend_limit_override = %v, want 25000", got)
	}
	if got := imp.Accounts[0].Contracts[0].OnDemandDiscountPercent; got.String() != "15" {
		t.Errorf("contract percent = %v, want 15", got)
	}
	if got := imp.Accounts[0].Grants[0].Amount; got != 10050 {
		t.Errorf("grant amount = %d cents, want 10050", got)
	}
	if got := imp.Payments[0].Amount; got != 4217 {
		t.Errorf("payment amount = %d cents, want 4217", got)
	}
}

// TestParseJSONSyntaxError: a syntax error in a JSON file is reported at its line and column, where
// yaml.v3 names line 1 or no line at all for a file that is one JSON object.
func TestParseJSONSyntaxError(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"doubled comma", `{"id": "j4",, }`,
			`line 1, column 13: not valid JSON: invalid character ',' looking for beginning of object key string`},
		{"missing comma at the end of line 4", `{
  "accounts": [
    {"id": "a1",
     "name": "One"
     "email": "one@example.test"}]}`,
			`line 5, column 6: not valid JSON: invalid character '"' after object key:value pair`},
		{"missing comma between records", "{\"accounts\": [\n  {\"id\": \"a1\"},\n  {\"id\": \"a2\"}\n  {\"id\": \"a3\"}]}",
			`line 4, column 3: not valid JSON: invalid character '{' after array element`},
		{"doubled comma after a byte order mark", "\uFEFF{\"id\": \"j4\",, }",
			`line 1, column 13: not valid JSON: invalid character ',' looking for beginning of object key string`},
		{"cut short", "{\"accounts\": [\n  {\"id\": \"a1\"},\n",
			`line 2, column 16: not valid JSON: unexpected end of JSON input`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.in)); err == nil || err.Error() != tc.want {
				t.Errorf("Parse(%q) = %v, want %s", tc.in, err, tc.want)
			}
		})
	}
	// Two JSON objects, one after the other.
	if _, err := Parse([]byte("{\"accounts\": []}\n{\"payments\": []}\n")); err == nil ||
		!strings.HasPrefix(err.Error(), "line 2, column 1: not valid JSON: invalid character '{' after top-level value") {
		t.Errorf("Parse of two JSON objects = %v, want an error at line 2, column 1", err)
	}
	// A YAML flow mapping is not JSON: yaml.v3's error stands.
	if _, err := Parse([]byte("{accounts: [{id: a,, }]}")); err == nil || !strings.HasPrefix(err.Error(), "yaml: ") {
		t.Errorf("Parse of a YAML flow mapping with a doubled comma = %v, want yaml.v3's error", err)
	}
}

// TestParseOneDocument: a second YAML document would be ignored, and the records in it, so it is
// refused; an empty one, as after a trailing ---, is not.
func TestParseOneDocument(t *testing.T) {
	_, err := Parse([]byte("accounts:\n  - id: a\n---\npayments:\n  - {id: p1, account: a, amount: \"1.00\", paid_at: 2026-01-01T00:00:00Z, for: credits}\n"))
	if want := "line 4: a second document, after --- on line 3: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Parse of two documents = %v, want an error starting %q", err, want)
	}
	for _, in := range []string{"---\naccounts:\n  - id: a\n...\n", "accounts:\n  - id: a\n---\n", "accounts:\n  - id: a\n---\n# nothing\n---\nnull\n"} {
		if imp, err := Parse([]byte(in)); err != nil || len(imp.Accounts) != 1 {
			t.Errorf("Parse(%q) = %+v, %v; want account a", in, imp, err)
		}
	}
}

// grantOfA2 is an accounts file whose second account, a2 on line 3, has one grant, g2, on line 6;
// the grant's other fields follow from line 7.
const grantOfA2 = `accounts:
  - id: a1
  - id: a2
    name: Two
    credits:
      - id: g2
`

// restOfG2 completes grant g2 of grantOfA2 on lines 7 to 9.
const restOfG2 = "        kind: free\n        amount: \"1\"\n        granted_at: 2026-01-01\n"

// paymentP1 is a payments file whose payment p1 starts on line 2; its other fields follow from line 3.
const paymentP1 = `payments:
  - id: p1
`

// TestParseErrorsNameLineRecordAndField: every error Parse returns starts with the line of the value at
// fault (of its record when the value is missing), the record — an account or payment by its id, else by
// its place in its list — and the field, then says what the field wants. A grant or payment that leaves
// out a field a new record requires is refused only as a new record (DESIGN §11: a stored one keeps the
// field), by RequireNew where the file alone is read and by the store on import, in the same words.
func TestParseErrorsNameLineRecordAndField(t *testing.T) {
	for _, tc := range []struct{ name, in, at, says string }{
		// Credit grants.
		{"grant amount not a number", grantOfA2 + "        kind: free\n        amount: abc\n        granted_at: 2026-01-01\n",
			`line 8: account a2, credits[0] (g2): amount: `, `want a non-negative decimal like "100.00", got "abc"`},
		{"grant amount with fractions of a cent", grantOfA2 + "        kind: free\n        amount: \"1.001\"\n        granted_at: 2026-01-01\n",
			`line 8: account a2, credits[0] (g2): amount: `, `want whole cents (at most two decimal places), got "1.001"`},
		{"grant amount negative", grantOfA2 + "        kind: free\n        amount: \"-1\"\n        granted_at: 2026-01-01\n",
			`line 8: account a2, credits[0] (g2): amount: `, `got "-1"`},
		{"grant amount a list", grantOfA2 + "        kind: free\n        amount: [1]\n        granted_at: 2026-01-01\n",
			`line 8: account a2, credits[0] (g2): amount: `, `got a list`},
		{"grant amount missing", grantOfA2 + "        kind: free\n        granted_at: 2026-01-01\n",
			`line 6: account a2, credits[0] (g2): amount: `, `missing, want a non-negative decimal like "100.00"`},
		{"grant amount in JSON with fractions of a cent", `{"accounts": [
  {"id": "a2",
   "credits": [{"id": "g2", "kind": "free",
     "amount": "2.0001", "granted_at": "2026-01-01"}]}]}`,
			`line 4: account a2, credits[0] (g2): amount: `, `got "2.0001"`},
		{"grant kind unknown", grantOfA2 + "        kind: gift\n        amount: \"1\"\n        granted_at: 2026-01-01\n",
			`line 7: account a2, credits[0] (g2): kind: `, `want free, purchased, promotional or credit_note, got "gift"`},
		{"grant kind missing", grantOfA2 + "        amount: \"1\"\n        granted_at: 2026-01-01\n",
			`line 6: account a2, credits[0] (g2): kind: `, `missing, want free, purchased, promotional or credit_note`},
		{"grant granted_at missing", grantOfA2 + "        kind: free\n        amount: \"1\"\n        granted_at: null\n",
			`line 6: account a2, credits[0] (g2): granted_at: `, `missing, want a time`},
		{"grant granted_at not a time", grantOfA2 + "        kind: free\n        amount: \"1\"\n        granted_at: soon\n",
			`line 9: account a2, credits[0] (g2): granted_at: `, `got "soon"`},
		{"grant expiring as it is granted", grantOfA2 + "        kind: free\n        amount: \"1\"\n        granted_at: 2026-01-01\n        expires_at: 2026-01-01T00:00:00Z\n",
			`line 10: account a2, credits[0] (g2): expires_at: `, `want a time after granted_at (2026-01-01T00:00:00Z) or null, got 2026-01-01T00:00:00Z`},
		{"grant expiring before it is granted", `accounts: [{id: a, credits: [{id: g, kind: free, amount: "1", granted_at: 2026-02-01T00:00:00Z, expires_at: 2026-01-01T00:00:00Z}]}]`,
			`line 1: account a, credits[0] (g): expires_at: `, `got 2026-01-01T00:00:00Z`},
		{"grant id missing", grantOfA2 + restOfG2 + "      - {kind: free, amount: \"1\", granted_at: 2026-01-01}\n",
			`line 10: account a2, credits[1]: id: `, `missing`},
		{"grant id listed twice", grantOfA2 + restOfG2 + "  - id: a3\n    credits: [{id: g2, kind: free, amount: \"1\", granted_at: 2026-01-01}]\n",
			`line 11: account a3, credits[0] (g2): id: `, `"g2" is listed twice, first on line 6`},
		// A misspelt key is refused rather than leaving its field at the default: a grant that never
		// expires, a section of no accounts.
		{"misspelt grant key", `accounts: [{id: a, credits: [{id: g, kind: free, amount: "1", granted_at: 2026-01-01T00:00:00Z, expires: 2026-02-01T00:00:00Z}]}]`,
			`line 1: account a, credits[0] (g): expires: `, `unknown key, want one of id, kind, amount, granted_at, expires_at`},
		{"grant not a mapping", grantOfA2 + restOfG2 + "      - g3\n",
			`line 10: account a2, credits[1]: `, `want a credit grant, a mapping (id: …), got "g3"`},

		// Money is a decimal string, never in exponent notation (DESIGN §11).
		{"grant amount in exponent notation", grantOfA2 + "        kind: free\n        amount: \"1e2\"\n        granted_at: 2026-01-01\n",
			`line 8: account a2, credits[0] (g2): amount: `, `want a decimal like "100.00", not exponent notation, got "1e2"`},
		{"grant amount beyond any in exponent notation", grantOfA2 + "        kind: free\n        amount: \"1e30\"\n        granted_at: 2026-01-01\n",
			`line 8: account a2, credits[0] (g2): amount: `, `not exponent notation, got "1e30"`},
		{"payment amount in exponent notation", paymentP1 + "    account: a\n    amount: \"4.217E1\"\n    paid_at: 2026-01-01T00:00:00Z\n    for: credits\n",
			`line 4: payment p1: amount: `, `want a decimal like "42.17", not exponent notation, got "4.217E1"`},
		{"spend limit in exponent notation", "accounts:\n  - id: a2\n    spend_limit_override: \"2.5e4\"\n",
			`line 3: account a2: spend_limit_override: `, `want a decimal like "25000.00", not exponent notation, got "2.5e4"`},
		{"spend limit in JSON exponent notation", "{\"accounts\": [{\"id\": \"a2\",\n  \"spend_limit_override\": \"1e30\"}]}",
			`line 2: account a2: spend_limit_override: `, `not exponent notation, got "1e30"`},

		{"contract percent in exponent notation", "accounts:\n  - id: a2\n    contracts:\n      - {on_demand_discount_percent: \"1.5e1\", from: 2026-01-01, to: 2027-01-01}\n",
			`line 4: account a2, contracts[0]: on_demand_discount_percent: `, `not exponent notation, got "1.5e1"`},

		// Accounts.
		{"spend limit negative", "accounts:\n  - id: a2\n    spend_limit_override: \"-5\"\n",
			`line 3: account a2: spend_limit_override: `, `want a non-negative decimal like "25000.00", got "-5"`},
		{"spend limit not a number", "accounts:\n  - id: a2\n    spend_limit_override: \"lots\"\n",
			`line 3: account a2: spend_limit_override: `, `got "lots"`},
		{"spend limit with fractions of a cent", "accounts:\n  - id: a2\n    spend_limit_override: \"10.005\"\n",
			`line 3: account a2: spend_limit_override: `, `want whole cents (at most two decimal places), got "10.005"`},
		// Beyond an int64 of cents (92,233,720,368,547,758.07): it wrapped around to a negative limit.
		{"spend limit beyond what cents hold", "accounts:\n  - id: a2\n    spend_limit_override: \"99999999999999999999\"\n",
			`line 3: account a2: spend_limit_override: `, `is more than billrun holds: at most 92233720368547758.06`},
		{"grant amount beyond what cents hold", grantOfA2 + "        kind: free\n        amount: \"99999999999999999999.00\"\n        granted_at: 2026-01-01\n",
			`line 8: account a2, credits[0] (g2): amount: `, `is more than billrun holds`},
		{"id missing", "accounts:\n  - id: a1\n  - name: x\n", `line 3: accounts[1]: id: `, `missing, want an id`},
		{"id listed twice", "accounts:\n  - id: a\n  - id: b\n  - id: a\n", `line 4: account a: id: `, `"a" is listed twice, first on line 2`},
		{"key listed twice", "accounts:\n  - id: a\n    id: b\n", `line 3: account a: id: `, `listed twice in one record, first on line 2`},
		{"payment method not a bool", "accounts:\n  - id: acct_1\n    payment_method: [not, a, bool]\n",
			`line 3: account acct_1: payment_method: `, `want true or false, got a list`},
		// yaml.v3 reads these strings as booleans when it decodes into a bool; the file wants a boolean.
		{"payment method the string yes", "accounts:\n  - id: acct_1\n    payment_method: \"yes\"\n",
			`line 3: account acct_1: payment_method: `, `want true or false, got "yes"`},
		{"payment method yes unquoted", "accounts:\n  - id: acct_1\n    payment_method: yes\n",
			`line 3: account acct_1: payment_method: `, `want true or false, got "yes"`},
		{"payment method off", "accounts:\n  - id: acct_1\n    payment_method: off\n",
			`line 3: account acct_1: payment_method: `, `want true or false, got "off"`},
		{"payment method Y in JSON", `{"accounts": [{"id": "acct_1",` + "\n" + `"payment_method": "Y"}]}`,
			`line 2: account acct_1: payment_method: `, `want true or false, got "Y"`},
		{"name a mapping", "accounts:\n  - id: a\n    name: {first: x}\n", `line 3: account a: name: `, `want text, got a mapping`},
		{"misspelt account key", "accounts:\n  - id: a\n    payment_methd: true\n", `line 3: account a: payment_methd: `, `unknown key`},
		{"account not a mapping", "accounts:\n  - id: a\n  - b\n", `line 3: accounts[1]: `, `want an account, a mapping (id: …), got "b"`},
		{"contracts a mapping", "accounts:\n  - id: a\n    contracts: {from: 2026-01-01}\n", `line 3: account a: contracts: `, `want a list of contracts, got a mapping`},
		// Text PostgreSQL cannot store is refused by either database (YAML's "\0" is a NUL).
		{"NUL in a name", "accounts:\n  - id: acct_z\n    name: \"Zed\\0Co\"\n", `line 3: account acct_z: name: `, `want text without NUL characters, got "Zed\x00Co"`},
		{"NUL in an id", `accounts: [{id: "acct\0z"}]`, `line 1: accounts[0]: id: `, `NUL`},
		{"NUL in a grant id", grantOfA2 + restOfG2 + "      - {id: \"g\\0\", kind: free, amount: \"1\", granted_at: 2026-01-01T00:00:00Z}\n",
			`line 10: account a2, credits[1]: id: `, `NUL`},

		// Contracts. DESIGN §6: contract dates are midnight UTC month boundaries; a percent is required;
		// contracts do not overlap.
		{"contract percent over 100", "accounts:\n  - id: a2\n    contracts:\n      - from: 2026-01-01\n        to: 2026-02-01\n        on_demand_discount_percent: \"150\"\n",
			`line 6: account a2, contracts[0]: on_demand_discount_percent: `, `want a percent from 0 to 100 like "15", got "150"`},
		{"contract percent not a number", "accounts:\n  - id: a2\n    contracts:\n      - from: 2026-01-01\n        to: 2026-02-01\n        on_demand_discount_percent: abc\n",
			`line 6: account a2, contracts[0]: on_demand_discount_percent: `, `got "abc"`},
		{"contract without percent", "accounts:\n  - id: a2\n    contracts:\n      - from: 2026-01-01\n        to: 2026-07-01\n",
			`line 4: account a2, contracts[0]: on_demand_discount_percent: `, `missing`},
		{"contract mid-month", "accounts:\n  - id: a2\n    contracts:\n      - on_demand_discount_percent: \"5\"\n        from: 2026-01-15\n        to: 2026-07-01\n",
			`line 5: account a2, contracts[0]: from: `, `want the start of a month (midnight UTC on the 1st), got 2026-01-15T00:00:00Z`},
		{"contract at 13:00", `accounts: [{id: a, contracts: [{on_demand_discount_percent: "5", from: 2026-01-01T13:00:00Z, to: 2026-07-01}]}]`,
			`line 1: account a, contracts[0]: from: `, `got 2026-01-01T13:00:00Z`},
		{"contract without from", "accounts:\n  - id: a2\n    contracts:\n      - on_demand_discount_percent: \"5\"\n        to: 2026-07-01\n",
			`line 4: account a2, contracts[0]: from: `, `missing`},
		{"contract ending before it starts", "accounts:\n  - id: a2\n    contracts:\n      - on_demand_discount_percent: \"5\"\n        from: 2026-03-01\n        to: 2026-02-01\n",
			`line 6: account a2, contracts[0]: to: `, `want a month start after from (2026-03-01), got 2026-02-01`},
		{"overlapping contracts", "accounts:\n  - id: a2\n    contracts:\n      - {on_demand_discount_percent: \"1\", from: 2026-01-01, to: 2026-06-01}\n      - {on_demand_discount_percent: \"2\", from: 2026-05-01, to: 2026-07-01}\n",
			`line 5: account a2, contracts[1]: from, to: `, `2026-05-01 to 2026-07-01 overlaps contracts[0] on line 4 (2026-01-01 to 2026-06-01)`},
		{"contract overlapping an open-ended one", "accounts:\n  - id: a2\n    contracts:\n      - {on_demand_discount_percent: \"1\", from: 2026-01-01}\n      - {on_demand_discount_percent: \"2\", from: 2027-01-01, to: 2027-07-01}\n",
			`line 5: account a2, contracts[1]: from, to: `, `2027-01-01 to 2027-07-01 overlaps contracts[0] on line 4 (2026-01-01 to open-ended)`},
		{"misspelt contract key", `accounts: [{id: a, contracts: [{percent: "5", from: 2026-01-01, to: 2026-07-01}]}]`,
			`line 1: account a, contracts[0]: percent: `, `unknown key`},

		// Payments.
		{"payment amount zero", paymentP1 + "    account: a\n    amount: \"0\"\n    paid_at: 2026-01-01T00:00:00Z\n    for: credits\n",
			`line 4: payment p1: amount: `, `want a positive decimal like "42.17", got "0"`},
		{"payment amount not a number", paymentP1 + "    account: a\n    amount: abc\n    paid_at: 2026-01-01T00:00:00Z\n    for: credits\n",
			`line 4: payment p1: amount: `, `got "abc"`},
		{"payment amount with fractions of a cent", `payments: [{id: p1, account: a, amount: "1.005", paid_at: 2026-01-01T00:00:00Z, for: credits}]`,
			`line 1: payment p1: amount: `, `want whole cents (at most two decimal places), got "1.005"`},
		{"payment amount missing", paymentP1 + "    account: a\n    paid_at: 2026-01-01T00:00:00Z\n    for: credits\n",
			`line 2: payment p1: amount: `, `missing, want a positive decimal like "42.17"`},
		{"payment paid_at missing", paymentP1 + "    account: a\n    amount: \"1\"\n    for: credits\n",
			`line 2: payment p1: paid_at: `, `missing, want a time`},
		{"payment paid_at not a time", paymentP1 + "    account: a\n    amount: \"1\"\n    paid_at: yesterday\n    for: credits\n",
			`line 5: payment p1: paid_at: `, `got "yesterday"`},
		// RFC 3339 offsets are at most ±23:59: "+24:00" was read as a day earlier (paid_at
		// 2026-01-02T00:00:00+24:00 as 2026-01-01T00:00:00Z), which moves historical spend and
		// amount_paid across an `at`; a comma before the fraction is no RFC 3339 either.
		{"payment paid_at with an offset of 24 hours", `payments: [{id: p1, account: a, amount: "1", paid_at: "2026-01-02T00:00:00+24:00", for: credits}]`,
			`line 1: payment p1: paid_at: `, `got "2026-01-02T00:00:00+24:00"`},
		{"grant granted_at with 60 minutes of offset", `accounts: [{id: a, credits: [{id: g, kind: free, amount: "1", granted_at: "2026-01-02T00:00:00-23:60"}]}]`,
			`line 1: account a, credits[0] (g): granted_at: `, `got "2026-01-02T00:00:00-23:60"`},
		{"payment paid_at unquoted with an offset of 24 hours", `payments: [{id: p1, account: a, amount: "1", paid_at: 2026-01-02T00:00:00+24:00, for: credits}]`,
			`line 1: payment p1: paid_at: `, `got "2026-01-02T00:00:00+24:00"`},
		{"grant expires_at with a comma fraction", `accounts: [{id: a, credits: [{id: g, kind: free, amount: "1", granted_at: 2026-01-01, expires_at: "2026-02-01T00:00:00,5Z"}]}]`,
			`line 1: account a, credits[0] (g): expires_at: `, `got "2026-02-01T00:00:00,5Z"`},
		{"payment for something else", paymentP1 + "    account: a\n    amount: \"1\"\n    paid_at: 2026-01-01T00:00:00Z\n    for: beer\n",
			`line 6: payment p1: for: `, `want credits or invoice, got "beer"`},
		{"payment for credits naming an invoice", paymentP1 + "    account: a\n    amount: \"1\"\n    paid_at: 2026-01-01T00:00:00Z\n    for: credits\n    invoice: INV-2026-000001\n",
			`line 7: payment p1: invoice: `, `want none with for: credits`},
		{"payment for neither", paymentP1 + "    account: a\n    amount: \"1\"\n    paid_at: 2026-01-01T00:00:00Z\n",
			`line 2: payment p1: invoice: `, `missing, want the number of the invoice paid, or for: credits`},
		{"payment without account", paymentP1 + "    amount: \"1\"\n    paid_at: 2026-01-01T00:00:00Z\n    for: credits\n",
			`line 2: payment p1: account: `, `missing`},
		{"payment without id", "payments:\n  - account: a\n    amount: \"1\"\n", `line 2: payments[0]: id: `, `missing`},
		{"payment id listed twice", paymentP1 +
			"    account: a\n    amount: \"1\"\n    paid_at: 2026-01-01T00:00:00Z\n    for: credits\n  - {id: p1, account: a, amount: \"1\", paid_at: 2026-01-01T00:00:00Z, for: credits}\n",
			`line 7: payment p1: id: `, `"p1" is listed twice, first on line 2`},
		{"NUL in a payment's invoice", `payments: [{id: p1, account: a, amount: "1.00", paid_at: 2026-01-01T00:00:00Z, invoice: "INV\0"}]`,
			`line 1: payment p1: invoice: `, `NUL`},
		{"misspelt payment key", `payments: [{id: p1, account: a, amount: "1.00", paid: 2026-01-01T00:00:00Z, for: credits}]`,
			`line 1: payment p1: paid: `, `unknown key`},

		// The file.
		{"misspelt section", "# accounts\nacounts:\n  - id: acct_q\n", `line 2: acounts: `, `unknown key, want one of accounts, payments`},
		{"accounts a mapping", "accounts:\n  id: a\n", `line 2: accounts: `, `want a list of accounts, got a mapping`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imp, err := Parse([]byte(tc.in))
			if err == nil {
				err = imp.RequireNew()
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.at) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Parse(%q), then RequireNew = %v, want an error starting %q, saying %q", tc.in, err, tc.at, tc.says)
			}
		})
	}
}

// TestParseNotesLeftOutFields: DESIGN §11 — fields left out of a record keep their stored values. Parse
// accepts a grant or payment with only some fields and notes the others, with the error that refuses
// the record if its id is new; null is a value, not a field left out (expires_at: null removes an expiry).
func TestParseNotesLeftOutFields(t *testing.T) {
	imp, err := Parse([]byte(`accounts:
  - id: a
    credits:
      - {id: g1, amount: "2.00"}
      - {id: g2, expires_at: null}
      - {id: g3, kind: free, amount: "1", granted_at: 2026-01-01T00:00:00Z}
payments:
  - {id: p1, amount: "3.00"}
  - {id: p2, account: a, amount: "1", paid_at: 2026-01-01T00:00:00Z, for: credits}
`))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		fields invoices.Fields
		ifNew  string
	}
	check := func(what string, got invoices.LeftOut, w want) {
		t.Helper()
		msg := ""
		if got.IfNew != nil {
			msg = got.IfNew.Error()
		}
		if got.Fields != w.fields || msg != w.ifNew {
			t.Errorf("%s left out %04b (if new: %q), want %04b (%q)", what, got.Fields, msg, w.fields, w.ifNew)
		}
	}
	grants := imp.Accounts[0].GrantsLeftOut
	check("g1", grants["g1"], want{invoices.GrantKindField | invoices.GrantGrantedAtField | invoices.GrantExpiresAtField,
		"line 4: account a, credits[0] (g1): kind: missing, want free, purchased, promotional or credit_note"})
	check("g2", grants["g2"], want{invoices.GrantKindField | invoices.GrantAmountField | invoices.GrantGrantedAtField,
		"line 5: account a, credits[1] (g2): kind: missing, want free, purchased, promotional or credit_note"})
	check("g3", grants["g3"], want{invoices.GrantExpiresAtField, ""}) // a new grant need not expire
	check("p1", imp.PaymentsLeftOut["p1"], want{invoices.PaymentAccountField | invoices.PaymentPaidAtField | invoices.PaymentPurposeField,
		"line 8: payment p1: account: missing, want the id of the account that paid"})
	check("p2", imp.PaymentsLeftOut["p2"], want{})
	if g := imp.Accounts[0].Grants[0]; g.Amount != 200 {
		t.Errorf("g1 amount %s, want 2.00", g.Amount)
	}
	if err := imp.RequireNew(); err == nil || err.Error() != grants["g1"].IfNew.Error() {
		t.Errorf("RequireNew() = %v, want g1's error", err)
	}
}

// TestParseOpenEndedContract: a contract without `to`, or with `to: null`, runs from `from` with no
// end (a zero To); one that ends before an open-ended one starts does not overlap it.
func TestParseOpenEndedContract(t *testing.T) {
	for _, src := range []string{
		"accounts:\n  - id: a\n    contracts:\n      - {on_demand_discount_percent: \"5\", from: 2026-01-01, to: 2026-07-01}\n      - {on_demand_discount_percent: \"15\", from: 2026-07-01}\n",
		"accounts:\n  - id: a\n    contracts:\n      - {on_demand_discount_percent: \"5\", from: 2026-01-01, to: 2026-07-01}\n      - {on_demand_discount_percent: \"15\", from: 2026-07-01, to: null}\n",
		`{"accounts": [{"id": "a", "contracts": [{"on_demand_discount_percent": "5", "from": "2026-01-01", "to": "2026-07-01"}, {"on_demand_discount_percent": "15", "from": "2026-07-01", "to": null}]}]}`,
	} {
		imp, err := Parse([]byte(src))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		cs := imp.Accounts[0].Contracts
		if len(cs) != 2 || !cs[1].To.IsZero() || !cs[1].From.Equal(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatalf("%s: contracts = %+v, want the second open-ended from 2026-07-01", src, cs)
		}
	}
}

// TestParseYAMLTimestampsWithASpace: an unquoted YAML timestamp with a space before the time and an
// offset — what PyYAML's safe_dump writes for an aware datetime — is a time (YAML 1.1's timestamp
// type), not an error; yaml.v3 resolves it as a string. Each is the instant it names, in UTC:
//
//	2026-01-10 00:00:00+00:00   → 2026-01-10T00:00:00Z
//	2026-01-10 05:00:00-05:00   → 05:00 + 5h = 2026-01-10T10:00:00Z
//	2001-12-14 21:59:43.10 -5   → (YAML's own example) 21:59:43.10 + 5h = 2001-12-15T02:59:43.1Z
//	2026-03-01 00:00:00         → no zone: UTC, 2026-03-01T00:00:00Z (yaml.v3 read this one already)
//
// An offset beyond ±23:59 is still refused.
func TestParseYAMLTimestampsWithASpace(t *testing.T) {
	imp, err := Parse([]byte(`accounts:
- id: y1
  credits:
  - {id: g1, kind: free, amount: '1.00', granted_at: 2026-01-10 00:00:00+00:00, expires_at: 2026-03-01 00:00:00}
  - {id: g2, kind: free, amount: '1.00', granted_at: 2001-12-14 21:59:43.10 -5}
payments:
- {id: p1, account: y1, amount: '2.00', paid_at: 2026-01-10 05:00:00-05:00, for: credits}
`))
	if err != nil {
		t.Fatal(err)
	}
	g := imp.Accounts[0].Grants
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{
		{"g1 granted_at", g[0].GrantedAt, time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)},
		{"g2 granted_at", g[1].GrantedAt, time.Date(2001, 12, 15, 2, 59, 43, 100_000_000, time.UTC)},
		{"p1 paid_at", imp.Payments[0].PaidAt, time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC)},
	} {
		if !c.got.Equal(c.want) {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
	if e := g[0].ExpiresAt; e == nil || !e.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("g1 expires_at = %v, want 2026-03-01T00:00:00Z", e)
	}
	_, err = Parse([]byte("payments:\n- {id: p1, account: y1, amount: '2.00', paid_at: 2026-01-10 05:00:00+24:00, for: credits}\n"))
	if want := `line 2: payment p1: paid_at: want a time in RFC 3339`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("an offset of 24 hours: %v, want an error starting %q", err, want)
	}
}
