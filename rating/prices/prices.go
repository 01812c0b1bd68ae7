// Package prices loads billrun's price book from YAML (DESIGN §4) into a validated rating.PriceBook.
package prices

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
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
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	if root.Kind == 0 {
		return nil, errors.New("the file is empty: a price book needs a currency and versions")
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
	price    kind = iota // a decimal that must be there and not null: a price, multiplier, threshold or limit
	bound                // a decimal that may be null or left out: no size limit, no cached price of its own
	required             // any value but null, its type checked by the decoder (a tier's number)
	flag                 // a YAML boolean (true or false, unquoted), false when left out: moe
	free                 // checked by the decoder alone (a bucket's name)
)

type field struct {
	key  string
	kind kind
}

// record is one kind of entry of the price book, with its fields in the order they are checked.
type record struct {
	name   string
	fields []field
}

var (
	serverlessBucket = record{"serverless bucket", []field{
		{"name", free}, {"moe", flag}, {"max_params_b", bound}, {"input", price}, {"output", price}}}
	modelPrice       = record{"model price", []field{{"input", price}, {"cached_input", bound}, {"output", price}}}
	volumeTier       = record{"volume tier", []field{{"min_gpu_hours", price}, {"percent", price}}}
	fineTuningBucket = record{"fine-tuning bucket", []field{{"max_params_b", bound}, {"price", price}}}
	policyTier       = record{"policy tier", []field{
		{"tier", required}, {"min_historical_spend", price}, {"spend_limit", price}}}
	catalogModel = record{"catalog model", []field{{"params_b", price}, {"moe", flag}}}
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
	key string
	val *yaml.Node
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
			out = append(out, entry{k.Value, v})
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
	for _, e := range es {
		var err error
		switch e.key {
		case "versions":
			err = c.items(e.val, "versions", "effective_from and its prices", c.version)
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
	for _, e := range es {
		var err error
		switch e.key {
		case "effective_from":
			if ef := yamlnode.Resolve(e.val); ef.Kind == yaml.ScalarNode && !yamlnode.IsNull(ef) {
				if _, perr := time.Parse(time.RFC3339Nano, ef.Value); perr != nil && !plainDate(ef) {
					err = fmt.Errorf("line %d: %s.effective_from: %q is not an RFC 3339 time like 2026-09-01T00:00:00Z%s",
						e.val.Line, at, ef.Value, via(e.val))
				}
			}
		case "serverless":
			err = c.serverless(e.val, at+".serverless")
		case "gpu_hour":
			err = c.prices(e.val, at+".gpu_hour")
		case "gpu_volume_discounts":
			err = c.list(e.val, at+".gpu_volume_discounts", volumeTier)
		case "fine_tuning":
			if ft, ok := c.mapping(e.val, "fine_tuning"); ok {
				for _, f := range ft {
					switch f.key {
					case "buckets":
						err = c.list(f.val, at+".fine_tuning.buckets", fineTuningBucket)
					case "method_multipliers":
						err = c.prices(f.val, at+".fine_tuning.method_multipliers")
					}
					if err != nil {
						break
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
	priced := len(values(es, "buckets")) > 0 || len(values(es, "models")) > 0
	for _, k := range []string{"default_cached_input_multiplier", "batch_multiplier"} {
		vs := values(es, k)
		if len(vs) == 0 && priced {
			return fmt.Errorf("line %d: %s: %s is required%s", n.Line, at, k, via(n))
		}
		for _, v := range vs {
			if err := checkValue(v, at+"."+k, price); err != nil {
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

// prices checks a mapping of names to prices (gpu_hour, method_multipliers): each must be a decimal.
func (c *checker) prices(n *yaml.Node, at string) error {
	es, _ := c.mapping(n, "prices")
	for _, e := range es {
		if err := checkValue(e.val, at+"."+e.key, price); err != nil {
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
		if len(vs) == 0 && (f.kind == price || f.kind == required) {
			return fmt.Errorf("line %d: %s: %s is required%s", n.Line, at, f.key, via(n))
		}
		for _, v := range vs {
			if err := checkValue(v, at+"."+f.key, f.kind); err != nil {
				return err
			}
		}
	}
	return nil
}

// needs lists r's required fields, for messages: "input and output".
func (r record) needs() string {
	var ks []string
	for _, f := range r.fields {
		if f.kind == price || f.kind == required {
			ks = append(ks, f.key)
		}
	}
	if len(ks) < 2 {
		return strings.Join(ks, "")
	}
	return strings.Join(ks[:len(ks)-1], ", ") + " and " + ks[len(ks)-1]
}

// checkValue checks value n (as written, at its line) of field at against its kind, through an alias.
func checkValue(n *yaml.Node, at string, k kind) error {
	v := yamlnode.Resolve(n)
	switch k {
	case price, bound:
		if yamlnode.IsNull(v) {
			if k == bound {
				return nil
			}
			return fmt.Errorf("line %d: %s: a number is required, not null%s (read as 0, it would bill at 0.00)", n.Line, at, via(n))
		}
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s: a decimal number is required, not a %s%s", n.Line, at, shape(v), via(n))
		}
		if _, err := decimal.NewFromString(v.Value); err != nil {
			return fmt.Errorf("line %d: %s: %q is not a decimal number%s (write prices as strings like \"0.20\")", n.Line, at, v.Value, via(n))
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
	for _, e := range es {
		switch e.key {
		case "tiers":
			if err := c.list(e.val, "policy.tiers", policyTier); err != nil {
				return err
			}
		case "payment_terms_days":
			if t := yamlnode.Resolve(e.val); !yamlnode.IsNull(t) && t.Tag != "!!int" {
				return fmt.Errorf("line %d: policy.payment_terms_days: %q is not a whole number of days%s", e.val.Line, t.Value, via(e.val))
			}
		}
	}
	return nil
}
