package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
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
