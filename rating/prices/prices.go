// Package prices loads billrun's price book from YAML (DESIGN §4) into a validated rating.PriceBook.
package prices

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

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
