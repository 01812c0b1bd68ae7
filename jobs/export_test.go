package jobs

// SetCloseBatch makes j's closes issue n invoices per transaction, so tests on the fixtures' 17
// accounts can interrupt a close between batches.
func SetCloseBatch(j *Jobs, n int) { j.closeBatch = n }

// SetDraftChunk makes j draft n accounts per chunk, so that a close on the fixtures issues its first
// batches while later accounts are still being drafted.
func SetDraftChunk(j *Jobs, n int) { j.draftChunk = n }

// SetStreamBatch makes j hand a report streamed from the store on in batches of at most n lines (or
// one document), so that tests on the fixtures' month stream it in several batches.
func SetStreamBatch(j *Jobs, n int) { j.streamBatch = n }
