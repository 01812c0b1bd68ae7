package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"

	"billrun/invoices"
)

// ImportAccountsSequential is ImportAccounts as it was before it became set-based (at commit
// 593a3ee): per account a SELECT … FOR UPDATE, an upsert, a SELECT of its contracts and their
// rewrite, four or more round trips each. The tests hold the set-based ImportAccounts to its results
// and stored rows, and BenchmarkImportAccounts measures against it.
var ImportAccountsSequential = (*Store).importAccountsSequential

func (s *Store) importAccountsSequential(ctx context.Context, imp *invoices.Import) (invoices.ImportResult, error) {
	var res invoices.ImportResult
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		res = invoices.ImportResult{}
		for i := range imp.Accounts {
			rec := &imp.Accounts[i]
			changed, err := s.upsertAccountSequential(ctx, tx, rec)
			if err != nil {
				return fmt.Errorf("account %s: %w", rec.ID, err)
			}
			if changed {
				res.Accounts++
			}
			for _, g := range rec.Grants {
				changed, err := s.upsertGrant(ctx, tx, rec.ID, g, rec.GrantsLeftOut[g.ID])
				if err != nil {
					return fmt.Errorf("account %s grant %s: %w", rec.ID, g.ID, err)
				}
				if changed {
					res.Grants++
				}
			}
		}
		for _, p := range imp.Payments {
			changed, err := s.upsertPayment(ctx, tx, p, imp.PaymentsLeftOut[p.ID], &res)
			if err != nil {
				return fmt.Errorf("payment %s: %w", p.ID, err)
			}
			if changed {
				res.Payments++
			}
		}
		return nil
	})
	if err != nil {
		return invoices.ImportResult{}, fmt.Errorf("store: import accounts: %w", err)
	}
	return res, nil
}

func (s *Store) upsertAccountSequential(ctx context.Context, tx *sqlx.Tx, rec *invoices.AccountRecord) (bool, error) {
	if rec.ID == "" {
		return false, errors.New("account without id")
	}
	var old accountRow
	err := tx.GetContext(ctx, &old, s.q(`SELECT id, name, email, payment_method, spend_limit_override
		FROM accounts WHERE id = ?`+s.forUpdate()), rec.ID)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	row := old
	row.ID = rec.ID
	if rec.Name != nil {
		row.Name = *rec.Name
	}
	if rec.Email != nil {
		row.Email = *rec.Email
	}
	if rec.PaymentMethod != nil {
		row.PaymentMethod = *rec.PaymentMethod
	}
	if rec.SpendLimitOverrideSet {
		row.SpendLimitOverride = sql.NullString{}
		if rec.SpendLimitOverride != nil {
			row.SpendLimitOverride = sql.NullString{String: rec.SpendLimitOverride.String(), Valid: true}
		}
	}
	changed := !exists || !sameAccountRow(old, row)
	if changed {
		_, err = tx.NamedExecContext(ctx, `INSERT INTO accounts (id, name, email, payment_method, spend_limit_override)
			VALUES (:id, :name, :email, :payment_method, :spend_limit_override)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email,
				payment_method = excluded.payment_method, spend_limit_override = excluded.spend_limit_override`, row)
		if err != nil {
			return false, err
		}
	}
	if !rec.ContractsSet {
		return changed, nil
	}
	var stored []contractRow
	if err := tx.SelectContext(ctx, &stored, s.q(`SELECT account_id, position, on_demand_discount_percent, from_at, to_at
		FROM contracts WHERE account_id = ? ORDER BY position`), rec.ID); err != nil {
		return false, err
	}
	want := make([]contractRow, len(rec.Contracts))
	for i, c := range rec.Contracts {
		want[i] = contractRow{AccountID: rec.ID, Position: i, Percent: c.OnDemandDiscountPercent.String(),
			From: fmtTime(c.From), To: fmtTime(c.To)}
	}
	if slices.EqualFunc(stored, want, sameContractRow) {
		return changed, nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM contracts WHERE account_id = ?`), rec.ID); err != nil {
		return false, err
	}
	for _, c := range want {
		if _, err := tx.NamedExecContext(ctx, `INSERT INTO contracts (account_id, position, on_demand_discount_percent, from_at, to_at)
			VALUES (:account_id, :position, :on_demand_discount_percent, :from_at, :to_at)`, c); err != nil {
			return false, err
		}
	}
	return true, nil
}
