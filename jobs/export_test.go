package jobs

// SetCloseBatch makes j's closes issue n invoices per transaction, so tests on the fixtures' 17
// accounts can interrupt a close between batches.
func SetCloseBatch(j *Jobs, n int) { j.closeBatch = n }
