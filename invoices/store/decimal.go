package store

import (
	"github.com/shopspring/decimal"

	"billrun/rating"
)

// decimalText returns d.String(), the stored form of a quantity, price or unrounded amount, without
// the decimal package's big-number formatting where it can (rating.AppendQuantity): a close stores two
// or three decimals per line. The tests hold it to String.
func decimalText(d decimal.Decimal) string {
	var buf [48]byte
	return string(rating.AppendQuantity(buf[:0], d))
}
