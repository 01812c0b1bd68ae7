package jobs

import (
	"context"
	"fmt"
	"sort"

	"billrun/invoices"
)

// ImportAccounts upserts an accounts file into the store in one transaction. Standing is not
// re-evaluated (only close, rerun and sweep do that).
func (j *Jobs) ImportAccounts(ctx context.Context, imp *invoices.Import) (invoices.ImportResult, error) {
	res, err := j.Store.ImportAccounts(ctx, imp)
	if err != nil {
		return res, fmt.Errorf("accounts import: %w", err)
	}
	j.Logger.Info("accounts imported", "accounts", res.Accounts, "grants", res.Grants, "payments", res.Payments)
	return res, nil
}

func sortAccounts(a []invoices.Account) {
	sort.Slice(a, func(i, k int) bool { return a[i].ID < a[k].ID })
}
