package rating

import "github.com/shopspring/decimal"

// Object is one usage object a run read, as listed by its source: the run's manifest entry.
type Object struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	ETag string `json:"etag"` // S3 ETag, or for local files a content checksum
}

// Counts are what a read of usage saw.
type Counts struct {
	Objects       int64                     `json:"objects"`
	Bytes         int64                     `json:"bytes"`
	Lines         int64                     `json:"lines"`
	EventsTaken   int64                     `json:"events_taken"`
	Accepted      int64                     `json:"accepted"`
	Duplicates    int64                     `json:"duplicates"`
	Rejected      int64                     `json:"rejected"`
	RejectsByCode map[RejectCode]int64      `json:"rejects_by_code"`
	Meters        map[Meter]decimal.Decimal `json:"meters"`
}
