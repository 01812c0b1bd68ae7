package rating

import (
	"slices"
	"strings"
)

// SortLines and compareLines are the tests' reference for the order BuildLines gives lines (sorting
// the large Line structs, where BuildLines sorts small entries before it builds them).

// SortLines orders lines as they appear on an invoice; discount lines go last.
func SortLines(ls []Line) {
	if len(ls) < 2 {
		return
	}
	// Lines are large structs: a stable sort of their indexes moves 4 bytes where sorting the lines
	// would copy every compared and swapped line; one pass then puts the lines in order.
	// The comparison is compareLines, lineLess's three-way form, with each line's meter rank computed
	// once rather than on every comparison.
	idx := make([]int32, len(ls))
	meters := make([]int8, len(ls))
	for i := range idx {
		idx[i] = int32(i)
		meters[i] = int8(meterOrder(ls[i].Meter))
	}
	slices.SortStableFunc(idx, func(i, j int32) int {
		return compareLines(&ls[i], &ls[j], meters[i], meters[j])
	})
	sorted := make([]Line, len(ls))
	for to, from := range idx {
		sorted[to] = ls[from]
	}
	copy(ls, sorted)
}

// compareLines is lineLess as a three-way comparison: negative when a comes first, positive when b
// does, 0 when neither (ma and mb are their meters' meterOrder).
func compareLines(a, b *Line, ma, mb int8) int {
	if c := compareNames(&lineNames{a.Kind, a.Deployment, a.Product, a.BaseModel},
		&lineNames{b.Kind, b.Deployment, b.Product, b.BaseModel}); c != 0 {
		return c
	}
	if a.Meter != b.Meter {
		return int(ma) - int(mb)
	}
	if c := a.UnitPrice.Cmp(b.UnitPrice); c != 0 {
		return c
	}
	return strings.Compare(a.BaseModel, b.BaseModel)
}
