// Package prices loads billrun's price book from YAML (DESIGN §4) into a validated rating.PriceBook.
package prices

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
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
	if err := checkDecimals(&root, ""); err != nil {
		return nil, err
	}
	if err := checkRequired(&root); err != nil {
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

// decimalKeys are the price book's keys whose values are decimal numbers; gpu_hour and
// method_multipliers map names to decimals.
var decimalKeys = map[string]bool{
	"default_cached_input_multiplier": true, "batch_multiplier": true, "max_params_b": true, "input": true,
	"output": true, "cached_input": true, "min_gpu_hours": true, "percent": true, "price": true,
	"params_b": true, "min_historical_spend": true, "spend_limit": true,
}

// nullableKeys are the decimal keys that may be null or absent: a bucket without a size limit, a model
// without its own cached price.
var nullableKeys = map[string]bool{"max_params_b": true, "cached_input": true}

// requiredKeys lists, per kind of record, the keys it must hold with a value: left out or null, a price
// would decode as 0 and bill its usage at 0.00 (DESIGN §11: a product with no price is a no_price
// reject, never free).
var requiredKeys = map[string][]string{
	"serverless":         {"default_cached_input_multiplier", "batch_multiplier"},
	"serverless.bucket":  {"input", "output"},
	"serverless.model":   {"input", "output"},
	"volume_tier":        {"min_gpu_hours", "percent"},
	"fine_tuning.bucket": {"price"},
	"policy.tier":        {"tier", "min_historical_spend", "spend_limit"},
}

// checkRequired walks the book's records and reports, with its line, the first that lacks a required
// key; payment_terms_days must be a whole number of days.
func checkRequired(root *yaml.Node) error {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	need := func(n *yaml.Node, kind, where string) error {
		if n.Kind != yaml.MappingNode {
			return nil // the decoder names what else it is
		}
		for _, k := range requiredKeys[kind] {
			if v := yamlnode.Value(n, k); v == nil || yamlnode.IsNull(v) {
				return fmt.Errorf("line %d: %s: %s is required", n.Line, where, k)
			}
		}
		return nil
	}
	each := func(seq *yaml.Node, kind, where string) error {
		if seq == nil || seq.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range seq.Content {
			if err := need(c, kind, fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if vs := yamlnode.Value(doc, "versions"); vs != nil && vs.Kind == yaml.SequenceNode {
		for i, v := range vs.Content {
			at := fmt.Sprintf("versions[%d]", i)
			if ef := yamlnode.Value(v, "effective_from"); ef != nil && !yamlnode.IsNull(ef) {
				if _, err := time.Parse(time.RFC3339Nano, ef.Value); err != nil {
					return fmt.Errorf("line %d: %s.effective_from: %q is not an RFC 3339 time like 2026-09-01T00:00:00Z", ef.Line, at, ef.Value)
				}
			}
			if sv := yamlnode.Value(v, "serverless"); sv != nil {
				// A version may price no serverless usage at all (its usage is then no_price); one with
				// buckets or models needs its multipliers.
				if yamlnode.Value(sv, "buckets") != nil || yamlnode.Value(sv, "models") != nil {
					if err := need(sv, "serverless", at+".serverless"); err != nil {
						return err
					}
				}
				if err := each(yamlnode.Value(sv, "buckets"), "serverless.bucket", at+".serverless.buckets"); err != nil {
					return err
				}
				if ms := yamlnode.Value(sv, "models"); ms != nil && ms.Kind == yaml.MappingNode {
					for j := 0; j+1 < len(ms.Content); j += 2 {
						if err := need(ms.Content[j+1], "serverless.model", at+".serverless.models."+ms.Content[j].Value); err != nil {
							return err
						}
					}
				}
			}
			if err := each(yamlnode.Value(v, "gpu_volume_discounts"), "volume_tier", at+".gpu_volume_discounts"); err != nil {
				return err
			}
			if ft := yamlnode.Value(v, "fine_tuning"); ft != nil {
				if err := each(yamlnode.Value(ft, "buckets"), "fine_tuning.bucket", at+".fine_tuning.buckets"); err != nil {
					return err
				}
			}
		}
	}
	if pol := yamlnode.Value(doc, "policy"); pol != nil {
		if err := each(yamlnode.Value(pol, "tiers"), "policy.tier", "policy.tiers"); err != nil {
			return err
		}
		if t := yamlnode.Value(pol, "payment_terms_days"); t != nil && !yamlnode.IsNull(t) && t.Tag != "!!int" {
			return fmt.Errorf("line %d: policy.payment_terms_days: %q is not a whole number of days", t.Line, t.Value)
		}
	}
	return nil
}

// checkDecimals reports the first decimal field that does not parse, with its line, so a typo in a
// price is named where it is rather than by the decoder's generic message. A null decimal is refused
// too (but where nullableKeys allow it): decoded, it would be a price of 0.
func checkDecimals(n *yaml.Node, parent string) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := checkDecimals(c, parent); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind == yaml.ScalarNode && (decimalKeys[k.Value] || parent == "gpu_hour" || parent == "method_multipliers") {
				if v.Tag == "!!null" {
					if nullableKeys[k.Value] {
						continue
					}
					return fmt.Errorf("line %d: %s: a number is required, not null (a price left empty would bill at 0.00)", v.Line, k.Value)
				}
				if _, err := decimal.NewFromString(v.Value); err != nil {
					return fmt.Errorf("line %d: %s: %q is not a decimal number (write prices as strings like \"0.20\")", v.Line, k.Value, v.Value)
				}
				continue
			}
			if err := checkDecimals(v, k.Value); err != nil {
				return err
			}
		}
	}
	return nil
}
