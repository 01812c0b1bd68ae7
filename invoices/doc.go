// Package invoices is billrun's pure billing domain: accounts, contracts, credit grants, payments,
// invoice documents and their numbering, credit application, and account standing (tiers, spend
// limits, suspension). It imports rating, the standard library and a decimal package only.
package invoices
