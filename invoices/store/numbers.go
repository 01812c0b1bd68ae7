package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"billrun/rating"
)

// DocumentNumbers returns the number of every document ever issued, void ones included, in issue
// order: what reconcile needs to check that each series is gapless.
func (s *Store) DocumentNumbers(ctx context.Context) ([]string, error) {
	var numbers []string
	err := s.read(ctx, func(tx *sqlx.Tx) error {
		return tx.SelectContext(ctx, &numbers, s.q(`SELECT number FROM documents ORDER BY id`))
	})
	if err != nil {
		return nil, fmt.Errorf("store: document numbers: %w", err)
	}
	return numbers, nil
}

// HasDocuments reports whether any document of period p was ever issued, void ones included.
func (s *Store) HasDocuments(ctx context.Context, p rating.Period) (bool, error) {
	var has bool
	err := s.read(ctx, func(tx *sqlx.Tx) error {
		return tx.GetContext(ctx, &has, s.q(`SELECT EXISTS (SELECT 1 FROM documents WHERE period = ?)`), p.String())
	})
	if err != nil {
		return false, fmt.Errorf("store: documents of %s: %w", p, err)
	}
	return has, nil
}
