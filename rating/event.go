package rating

import "time"

// Kind is a product line: the event type of raw usage and the kind of an invoice line.
type Kind string

// The product lines, and the kind of the bulk on-demand discount line.
const (
	KindServerless Kind = "serverless"
	KindGPU        Kind = "gpu"
	KindFineTuning Kind = "fine_tuning"
	KindDiscount   Kind = "discount"
)

// Event is one raw usage event after decoding and validation (DESIGN §3). Times are UTC; token fields
// absent from the input are 0, Epochs defaults to 1 and Method to lora_sft.
type Event struct {
	ID      string
	TS      time.Time
	Account string
	Type    Kind

	// serverless
	Model             string
	BaseModel         string // also the base model of a fine-tuning job
	InputTokens       int64
	OutputTokens      int64
	CachedInputTokens int64
	Batch             bool

	// gpu
	Deployment string
	GPUType    string
	GPUCount   int64
	Start, End time.Time

	// fine_tuning
	Job            string
	TrainingTokens int64
	Epochs         int64
	Method         string
}

// RejectCode is the reason a usage line was rejected (DESIGN §11).
type RejectCode string

// The reject reasons of DESIGN §11.
const (
	RejectInvalidJSON        RejectCode = "invalid_json"
	RejectMissingField       RejectCode = "missing_field"
	RejectInvalidValue       RejectCode = "invalid_value"
	RejectUnknownType        RejectCode = "unknown_type"
	RejectWrongPartition     RejectCode = "wrong_partition"
	RejectLateReport         RejectCode = "late_report"
	RejectCachedExceedsInput RejectCode = "cached_exceeds_input"
	RejectEndNotAfterStart   RejectCode = "end_not_after_start"
	RejectIntervalTooLong    RejectCode = "interval_too_long"
	RejectUnknownAccount     RejectCode = "unknown_account"
	RejectNoPrice            RejectCode = "no_price"
	RejectDuplicateConflict  RejectCode = "duplicate_conflict"
)

// TotalOverflow is what Rater.Add and its variants return in place of a reject code when adding the
// event would carry one of its line's totals past what billrun holds (2^63−1 tokens or GPU-seconds).
// It is not a reject of DESIGN §11 and never stored: the event itself is valid, and which event of a
// line crosses the limit depends on the order a read's workers add them in. The read fails instead, as
// it does when merging the workers' aggregates overflows, so the outcome is the same with any number
// of workers.
const TotalOverflow RejectCode = "total_overflow"

// RejectCodes lists every reject code in a stable order, for counts and reports.
var RejectCodes = []RejectCode{
	RejectInvalidJSON, RejectMissingField, RejectInvalidValue, RejectUnknownType, RejectWrongPartition,
	RejectLateReport, RejectCachedExceedsInput, RejectEndNotAfterStart, RejectIntervalTooLong,
	RejectUnknownAccount, RejectNoPrice, RejectDuplicateConflict,
}

// Reject is a usage line that was not billed, with where it came from and why.
type Reject struct {
	Object  string     `json:"object"`
	Line    int64      `json:"line"`
	EventID string     `json:"event_id"`
	Code    RejectCode `json:"code"`
	Message string     `json:"message"`
}
