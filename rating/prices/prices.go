// Package prices loads billrun's price book from YAML (DESIGN §4) into a validated rating.PriceBook.
package prices

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

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
	if err := checkDecimals(&root, ""); err != nil {
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

// checkDecimals reports the first decimal field that does not parse, with its line, so a typo in a
// price is named where it is rather than by the decoder's generic message.
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
			if v.Kind == yaml.ScalarNode && v.Tag != "!!null" && (decimalKeys[k.Value] || parent == "gpu_hour" || parent == "method_multipliers") {
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
