package accountsfile

import (
	"reflect"
	"strings"
	"testing"
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
		if !reflect.DeepEqual(imp, yamlImp) {
			t.Errorf("%s imports\n%+v\nwant, as the YAML example,\n%+v", name, imp, yamlImp)
		}
	}
	_, err = Parse([]byte(`{"accounts": [{"id": "a",
  "contracts": [{"on_demand_discount_percent": "15", "from": "January", "to": "2027-01-01"}]}]}`))
	if err == nil || !strings.Contains(err.Error(), `"January" is not a time`) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a contract from January: %v, want an error naming the value and line 2", err)
	}
}

func TestParseErrorsNameTheRecord(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"fractional cent", `payments: [{id: p1, account: a, amount: "1.005", paid_at: 2026-01-01T00:00:00Z, for: credits}]`},
		{"grant kind", `accounts: [{id: a, credits: [{id: g, kind: gift, amount: "1", granted_at: 2026-01-01T00:00:00Z}]}]`},
		{"missing id", `accounts: [{name: x}]`},
		{"overlapping contracts", `accounts: [{id: a, contracts: [{on_demand_discount_percent: "1", from: 2026-01-01, to: 2026-06-01}, {on_demand_discount_percent: "2", from: 2026-05-01, to: 2026-07-01}]}]`},
		// A misspelt key is refused rather than leaving its field at the default: a grant that never
		// expires, a section of no accounts.
		{"misspelt grant key", `accounts: [{id: a, credits: [{id: g, kind: free, amount: "1", granted_at: 2026-01-01T00:00:00Z, expires: 2026-02-01T00:00:00Z}]}]`},
		{"misspelt account key", `accounts: [{id: a, payment_methd: true}]`},
		{"misspelt contract key", `accounts: [{id: a, contracts: [{percent: "5", from: 2026-01-01, to: 2026-07-01}]}]`},
		{"misspelt payment key", `payments: [{id: p1, account: a, amount: "1.00", paid: 2026-01-01T00:00:00Z, for: credits}]`},
		{"misspelt section", "acounts:\n  - id: acct_q\n"},
		// DESIGN §6: contract dates are midnight UTC month boundaries; a percent is required.
		{"contract mid-month", `accounts: [{id: a, contracts: [{on_demand_discount_percent: "5", from: 2026-01-15, to: 2026-07-01}]}]`},
		{"contract at 13:00", `accounts: [{id: a, contracts: [{on_demand_discount_percent: "5", from: 2026-01-01T13:00:00Z, to: 2026-07-01}]}]`},
		{"contract without percent", `accounts: [{id: a, contracts: [{from: 2026-01-01, to: 2026-07-01}]}]`},
		{"grant expiring before it is granted", `accounts: [{id: a, credits: [{id: g, kind: free, amount: "1", granted_at: 2026-02-01T00:00:00Z, expires_at: 2026-01-01T00:00:00Z}]}]`},
		{"spend limit with fractions of a cent", `accounts: [{id: a, spend_limit_override: "10.005"}]`},
		// Text PostgreSQL cannot store is refused by either database (YAML's "\0" is a NUL).
		{"NUL in a name", `accounts: [{id: acct_z, name: "Zed\0Co", payment_method: true}]`},
		{"NUL in an id", `accounts: [{id: "acct\0z"}]`},
		{"NUL in a grant id", `accounts: [{id: a, credits: [{id: "g\0", kind: free, amount: "1", granted_at: 2026-01-01T00:00:00Z}]}]`},
		{"NUL in a payment's invoice", `payments: [{id: p1, account: a, amount: "1.00", paid_at: 2026-01-01T00:00:00Z, invoice: "INV\0"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.in)); err == nil {
				t.Errorf("Parse(%s) = nil error, want one", tc.in)
			} else {
				t.Log(err)
			}
		})
	}
}
