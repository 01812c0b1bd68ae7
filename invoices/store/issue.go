package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"unsafe"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"billrun/invoices"
	"billrun/rating"
)

// Statement sizes of a batch: how many rows one multi-row INSERT carries. Each stays well below
// SQLite's 32,766 and PostgreSQL's 65,535 parameters: documents 14 each, line sets 2, consumptions 4,
// credit note grants 7.
const (
	docsPerInsert         = 500
	lineSetsPerInsert     = 100
	consumptionsPerInsert = 500
	grantsPerInsert       = 500
	// idsPerSelect is how many grant or document ids one IN (…) list carries.
	idsPerSelect = 500
)

// IssueError is the error IssueBatch returns when one document of the batch cannot be issued. Index
// is its position in the batch; Err says why and wraps what Issue's error for that document would
// (invoices.ErrAlreadyIssued, invoices.ErrNotFound), so errors.Is sees through it.
type IssueError struct {
	Index int
	Err   error
}

func (e *IssueError) Error() string { return fmt.Sprintf("store: batch[%d]: %v", e.Index, e.Err) }

func (e *IssueError) Unwrap() error { return e.Err }

// docErr blames the batch's document i for err.
func docErr(docs []*invoices.Document, i int, err error) error {
	d := docs[i]
	return &IssueError{Index: i, Err: fmt.Errorf("issue %s for %s %s: %w", d.Kind, d.Account, d.Period, err)}
}

// Issue inserts doc in one transaction (committed asynchronously on PostgreSQL, as IssueBatch's): it
// voids doc.Replaces (voided_at = doc.IssuedAt) when set, takes the next number of the series (INV or
// CN, year of doc.IssuedAt in UTC) from its counter row, stores the document with its lines and
// consumptions and, for a credit note, creates its credit_note grant (id and source = the credit
// note's number, amount = −subtotal, granted at issue, never expiring). On success it sets doc.ID and
// doc.Number.
//
// Nothing is written when it fails. It returns an error wrapping invoices.ErrAlreadyIssued when the
// account already has an effective original invoice for the period (the database's unique index
// decides) or doc.Replaces is already void, one wrapping invoices.ErrNotFound when doc.Replaces does
// not exist, and an error when a consumption names another account's grant or would overdraw it.
func (s *Store) Issue(ctx context.Context, doc *invoices.Document) error {
	err := s.issue(ctx, []*invoices.Document{doc})
	var ie *IssueError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return fmt.Errorf("store: %w", ie.Err)
	default:
		return fmt.Errorf("store: issue %s for %s %s: %w", doc.Kind, doc.Account, doc.Period, err)
	}
}

// IssueBatch issues docs in one transaction, in slice order, each exactly as Issue would one after
// the other: the numbers of a series follow the slice order without gaps, ids increase in it, and
// each document is validated, voids what it replaces, consumes its grants and (a credit note)
// creates its grant. On success it sets every doc's ID and Number.
//
// It is all or nothing: when any document fails, nothing of the batch is written and no doc's ID or
// Number is set. A document that Issue would refuse makes it return an *IssueError naming that
// document's index and wrapping Issue's reason — invoices.ErrAlreadyIssued when the account already
// has an effective original invoice for the period (or the batch holds two) or what it replaces is
// void, invoices.ErrNotFound when what it replaces or a grant it consumes does not exist. When
// several documents would fail, the error names one of them. Numbers are assigned inside the batch,
// so a document cannot replace or consume the grant of another document of the same batch.
//
// On PostgreSQL the transaction commits asynchronously: a server crash may lose the latest batches
// whole, never part of one, and the run's next synchronous commit makes them durable.
func (s *Store) IssueBatch(ctx context.Context, docs []*invoices.Document) error {
	err := s.issue(ctx, docs)
	var ie *IssueError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return err
	default:
		return fmt.Errorf("store: issue batch of %d documents: %w", len(docs), err)
	}
}

// issued is what the database assigned to one document of a batch.
type issued struct {
	id     int64
	number string
}

// issue is Issue and IssueBatch: it returns an *IssueError for a document's own fault and a plain
// error for the batch's.
func (s *Store) issue(ctx context.Context, docs []*invoices.Document) error {
	if len(docs) == 0 {
		return nil
	}
	seen := make(map[*invoices.Document]int, len(docs))
	for i, doc := range docs {
		if j, ok := seen[doc]; ok {
			return docErr(docs, i, fmt.Errorf("the same document as batch[%d]", j))
		}
		seen[doc] = i
		if err := validateIssue(doc); err != nil {
			return docErr(docs, i, err)
		}
	}
	// The lines' JSON is encoded while the transaction begins and takes its numbers: on PostgreSQL
	// those are round trips the issuing goroutine would otherwise only wait through.
	sets := make(chan lineSets, 1)
	go func() { sets <- encodeLineSets(docs) }()
	var out []issued
	var ls lineSets
	err := s.writeConn(ctx, func(conn *sqlx.Conn, tx *sqlx.Tx) error {
		var err error
		out, err = s.issueTx(ctx, conn, tx, docs, func() lineSets { ls = <-sets; return ls })
		return err
	})
	if err != nil {
		// The buffer is left to the collector: after a failed COPY, pgx's reading goroutine may not
		// have stopped yet.
		return err
	}
	ls.release()
	// Only once committed: a failed batch leaves every draft as it was, ready to be issued again.
	for i, doc := range docs {
		doc.ID, doc.Number = out[i].id, out[i].number
	}
	return nil
}

// issueTx writes the batch in tx, which runs on conn; sets waits for its lines' JSON.
func (s *Store) issueTx(ctx context.Context, conn *sqlx.Conn, tx *sqlx.Tx, docs []*invoices.Document, sets func() lineSets) ([]issued, error) {
	if s.dialect == dialectPostgres {
		// A close issues thousands of documents, a batch per transaction; waiting for the WAL flush of
		// every one would dominate it. An asynchronous commit can only lose a suffix of the latest
		// transactions in a server crash (never half of one, never out of order), which a rerun of
		// the idempotent close reissues with the same numbers; and the run's next synchronous commit
		// (saving standing, before any export is written) flushes them all.
		if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
			return nil, err
		}
	}
	periods := make([]rating.Period, len(docs))
	for i, doc := range docs {
		periods[i] = doc.Period
	}
	if err := s.checkFences(ctx, tx, periods...); err != nil {
		return nil, err
	}
	// Replacements void their originals first, in batch order. The partial unique index then sees
	// the slots they free, and a batch that would still hold two effective invoices for one account
	// and period fails below, as issuing its documents one by one would.
	voided := map[int]int64{} // batch index → id of the invoice it voided
	for i, doc := range docs {
		if doc.Replaces == "" {
			continue
		}
		id, err := s.voidReplaced(ctx, tx, doc)
		if err != nil {
			return nil, docErr(docs, i, err)
		}
		voided[i] = id
	}
	numbers, err := s.takeNumbers(ctx, tx, docs)
	if err != nil {
		return nil, err
	}
	out, err := s.insertDocuments(ctx, tx, docs, numbers)
	if err != nil {
		return nil, err
	}
	ls := sets()
	if ls.err != nil {
		return nil, ls.err
	}
	if s.dialect == dialectPostgres {
		err = s.copyLineSets(ctx, conn, out, ls)
	} else {
		err = s.insertLineSets(ctx, tx, out, ls)
	}
	if err != nil {
		return nil, err
	}
	if err := s.insertConsumptions(ctx, tx, docs, out, voided); err != nil {
		return nil, err
	}
	if err := s.insertCreditNoteGrants(ctx, tx, docs, out); err != nil {
		return nil, err
	}
	return out, nil
}

// series returns the numbering prefix and year of a document.
func series(doc *invoices.Document) seriesKey {
	if doc.Kind == invoices.KindCreditNote {
		return seriesKey{"CN", doc.IssuedAt.UTC().Year()}
	}
	return seriesKey{"INV", doc.IssuedAt.UTC().Year()}
}

// seriesKey names a counter row.
type seriesKey struct {
	prefix string
	year   int
}

func validateIssue(doc *invoices.Document) error {
	switch {
	case doc.Number != "":
		return fmt.Errorf("document already has number %s", doc.Number)
	case doc.Account == "":
		return errors.New("document without account")
	case doc.Period.IsZero():
		return errors.New("document without period")
	case doc.IssuedAt.IsZero():
		return errors.New("document without issue time")
	case doc.Kind != invoices.KindInvoice && doc.Kind != invoices.KindSupplementary && doc.Kind != invoices.KindCreditNote:
		return fmt.Errorf("unknown document kind %q", doc.Kind)
	case doc.Replaces != "" && doc.Kind != invoices.KindInvoice:
		return fmt.Errorf("a %s cannot replace %s", doc.Kind, doc.Replaces)
	case doc.Kind == invoices.KindCreditNote && doc.Subtotal >= 0:
		return fmt.Errorf("credit note subtotal %s is not negative", doc.Subtotal)
	}
	if err := doc.CheckAmounts(); err != nil {
		return err
	}
	var consumed rating.Cents
	for _, c := range doc.Consumptions {
		if c.Amount <= 0 {
			return fmt.Errorf("consumption of grant %s is %s", c.GrantID, c.Amount)
		}
		consumed += c.Amount
	}
	if consumed != doc.CreditsApplied {
		return fmt.Errorf("consumptions sum to %s, credits applied are %s", consumed, doc.CreditsApplied)
	}
	return nil
}

// voidReplaced voids the original invoice a replacement stands for, at the replacement's issue time,
// and returns the original's id.
func (s *Store) voidReplaced(ctx context.Context, tx *sqlx.Tx, doc *invoices.Document) (int64, error) {
	old, err := s.lockDocument(ctx, tx, doc.Replaces)
	if err != nil {
		return 0, fmt.Errorf("replaces %s: %w", doc.Replaces, err)
	}
	switch {
	case old.AccountID != doc.Account || old.Period != doc.Period.String():
		return 0, fmt.Errorf("replaces %s of %s %s: another account or period", old.Number, old.AccountID, old.Period)
	case old.Kind != string(invoices.KindInvoice):
		return 0, fmt.Errorf("replaces %s: a %s, not an invoice", old.Number, old.Kind)
	case old.VoidedAt.Valid:
		return 0, fmt.Errorf("replaces %s: void since %s: %w", old.Number, old.VoidedAt.String, invoices.ErrAlreadyIssued)
	}
	if err := s.paidBefore(ctx, tx, old, doc.IssuedAt); err != nil {
		return 0, fmt.Errorf("replaces %w", err)
	}
	_, err = tx.ExecContext(ctx, s.q(`UPDATE documents SET voided_at = ? WHERE id = ?`), fmtTime(doc.IssuedAt), old.ID)
	return old.ID, err
}

// takeNumbers advances each series' counter once by the number of documents of the batch in it and
// returns the documents' numbers: a series' numbers in slice order, last−n+1 … last. Counters are
// taken in (prefix, year) order so that concurrent batches lock them in the same order.
func (s *Store) takeNumbers(ctx context.Context, tx *sqlx.Tx, docs []*invoices.Document) ([]string, error) {
	count := map[seriesKey]int64{}
	for _, doc := range docs {
		count[series(doc)]++
	}
	keys := slices.SortedFunc(maps.Keys(count), func(a, b seriesKey) int {
		return cmp.Or(cmp.Compare(a.prefix, b.prefix), cmp.Compare(a.year, b.year))
	})
	next := make(map[seriesKey]int64, len(keys))
	for _, k := range keys {
		var last int64
		if err := tx.GetContext(ctx, &last, s.q(`INSERT INTO counters (prefix, year, last_number) VALUES (?, ?, ?)
			ON CONFLICT (prefix, year) DO UPDATE SET last_number = counters.last_number + excluded.last_number
			RETURNING last_number`), k.prefix, k.year, count[k]); err != nil {
			return nil, fmt.Errorf("counter %s-%04d: %w", k.prefix, k.year, err)
		}
		next[k] = last - count[k] + 1
	}
	numbers := make([]string, len(docs))
	for i, doc := range docs {
		k := series(doc)
		numbers[i] = fmt.Sprintf("%s-%04d-%06d", k.prefix, k.year, next[k])
		next[k]++
	}
	return numbers, nil
}

const docInsertHead = `INSERT INTO documents (number, account_id, period, kind, replaces, corrects, issued_at, due_at,
	voided_at, run_id, subtotal_cents, discount_cents, credits_applied_cents, amount_due_cents) VALUES `

// insertDocuments stores the batch's documents with multi-row INSERTs and returns their ids and
// numbers in slice order. A row the effective-invoice index (or the number's) refuses is skipped
// rather than failing the statement, so the document it belongs to can be named; RETURNING rows come
// in no promised order, so ids are matched by number.
func (s *Store) insertDocuments(ctx context.Context, tx *sqlx.Tx, docs []*invoices.Document, numbers []string) ([]issued, error) {
	ids := make(map[string]int64, len(docs))
	args := make([]any, 0, 14*min(len(docs), docsPerInsert))
	for start := 0; start < len(docs); start += docsPerInsert {
		chunk := docs[start:min(start+docsPerInsert, len(docs))]
		args = args[:0]
		for i, doc := range chunk {
			args = append(args, numbers[start+i], doc.Account, doc.Period.String(), string(doc.Kind), doc.Replaces,
				doc.Corrects, fmtTime(doc.IssuedAt), fmtTimePtr(doc.DueAt), nil, doc.RunID,
				int64(doc.Subtotal), int64(doc.Discount), int64(doc.CreditsApplied), int64(doc.AmountDue))
		}
		query := s.insertSQL(docInsertHead, len(chunk), 14, ` ON CONFLICT DO NOTHING RETURNING id, number`)
		if err := scanIDs(ctx, tx, query, args, ids); err != nil {
			return nil, fmt.Errorf("documents %d–%d: %w", start+1, start+len(chunk), err)
		}
	}
	out := make([]issued, len(docs))
	for i := range docs {
		id, ok := ids[numbers[i]]
		if !ok {
			return nil, docErr(docs, i, fmt.Errorf("effective invoice exists: %w", invoices.ErrAlreadyIssued))
		}
		// Documents, DocumentNumbers and reconcile read issue order from ids; both databases number
		// the rows of one INSERT in VALUES order, and this keeps that an invariant, not a hope.
		if i > 0 && id <= out[i-1].id {
			return nil, fmt.Errorf("document %s got id %d, not after %s's %d", numbers[i], id, out[i-1].number, out[i-1].id)
		}
		out[i] = issued{id: id, number: numbers[i]}
	}
	return out, nil
}

func scanIDs(ctx context.Context, tx *sqlx.Tx, query string, args []any, ids map[string]int64) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var number string
		if err := rows.Scan(&id, &number); err != nil {
			return err
		}
		ids[number] = id
	}
	return rows.Err()
}

// lineSets is the JSON of a batch's lines: document i's array is text[ends[i-1]:ends[i]] (ends[-1]
// is 0), empty for a document without lines. err is a document's fault (an *IssueError).
//
// text is the bytes of a buffer reused from batch to batch, not a copy of them: copying the ~1.3 MB
// of every batch into a string of its own took ~0.12 s of a close's CPU — the copy itself a few
// milliseconds, the rest first touches of freshly mapped memory. release hands the buffer back once
// the batch is committed; text must not be used after it.
type lineSets struct {
	text   string
	ends   []int
	err    error
	pooled *[]byte // the buffer text is the bytes of
}

// encodeLineSets encodes the lines of each document of the batch as one JSON array (linesjson.go),
// into a buffer from lineSetBuffers that the rows' values are slices of.
func encodeLineSets(docs []*invoices.Document) lineSets {
	pooled := lineSetBuffers.Get()
	buf := (*pooled)[:0]
	// Sized up front rather than grown by doubling: a line takes ~210 bytes of JSON (bench month).
	lines := 0
	for _, doc := range docs {
		lines += len(doc.Lines)
	}
	if want := lines * 256; cap(buf) < want {
		buf = make([]byte, 0, want)
	}
	ends := make([]int, len(docs))
	for i, doc := range docs {
		if len(doc.Lines) > 0 {
			var err error
			if buf, err = appendLinesJSON(buf, doc.Lines); err != nil {
				*pooled = buf[:0]
				lineSetBuffers.Put(pooled)
				return lineSets{err: docErr(docs, i, err)}
			}
		}
		ends[i] = len(buf)
	}
	*pooled = buf
	return lineSets{text: unsafe.String(unsafe.SliceData(buf), len(buf)), ends: ends, pooled: pooled}
}

// release hands the sets' buffer back for another batch, once nothing reads text any more: the
// batch's statements have run, and the drivers copied what they sent. It may be called on sets
// without a buffer.
func (ls *lineSets) release() {
	if ls.pooled == nil {
		return
	}
	*ls.pooled = (*ls.pooled)[:0]
	lineSetBuffers.Put(ls.pooled)
	ls.pooled, ls.text = nil, ""
}

// insertLineSets stores the lines of every document of the batch that has any: a row per document,
// its lines' JSON array from sets (encoded without error).
func (s *Store) insertLineSets(ctx context.Context, tx *sqlx.Tx, out []issued, sets lineSets) error {
	ins := s.newInserter(tx, "lines", `INSERT INTO document_line_sets (document_id, lines) VALUES `, 2, lineSetsPerInsert)
	defer ins.close()
	start := 0
	for i, end := range sets.ends {
		if end > start {
			if err := ins.row(ctx, out[i].id, sets.text[start:end]); err != nil {
				return err
			}
		}
		start = end
	}
	return ins.flush(ctx)
}

// copyLineSets is insertLineSets for PostgreSQL: one binary COPY of the batch's line sets on conn,
// inside the transaction open on it. As parameters of an INSERT, pgx copied each batch's ~1.3 MB of
// JSON into its parameter buffer and again into the Bind message, growing both as it went: ~0.45 s of
// a close's issuing. COPY reads the rows straight from the batch's text.
func (s *Store) copyLineSets(ctx context.Context, conn *sqlx.Conn, out []issued, sets lineSets) error {
	err := conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("driver connection is a %T, not pgx's", dc)
		}
		_, err := c.Conn().PgConn().CopyFrom(ctx, newLineSetCopy(out, sets), lineSetCopySQL)
		return err
	})
	if err != nil {
		return fmt.Errorf("lines: %w", err)
	}
	return nil
}

const lineSetCopySQL = `COPY document_line_sets (document_id, lines) FROM STDIN (FORMAT binary)`

// lineSetCopy reads as the binary COPY data of a batch's line sets: the format's signature, a row per
// document with lines (two fields: the document's id, an int8, and its lines' text), the trailer.
type lineSetCopy struct {
	out   []issued
	sets  lineSets
	i     int    // the document whose row is next
	start int    // where its text starts in sets.text
	head  []byte // bytes to read before body: the signature, a row's header, or the trailer
	body  string // the rest of the current row's text
	row   [18]byte
	ended bool // the trailer is in head (or read)
}

// copySignature starts binary COPY data: the signature, no flags, no header extension.
var copySignature = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

func newLineSetCopy(out []issued, sets lineSets) *lineSetCopy {
	return &lineSetCopy{out: out, sets: sets, head: copySignature}
}

func (c *lineSetCopy) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case len(c.head) > 0:
			k := copy(p[n:], c.head)
			c.head, n = c.head[k:], n+k
		case len(c.body) > 0:
			k := copy(p[n:], c.body)
			c.body, n = c.body[k:], n+k
		case c.ended:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		case c.i == len(c.sets.ends):
			c.head, c.ended = []byte{0xff, 0xff}, true
		default:
			end := c.sets.ends[c.i]
			if end > c.start {
				binary.BigEndian.PutUint16(c.row[0:], 2)
				binary.BigEndian.PutUint32(c.row[2:], 8)
				binary.BigEndian.PutUint64(c.row[6:], uint64(c.out[c.i].id))
				binary.BigEndian.PutUint32(c.row[14:], uint32(end-c.start))
				c.head, c.body = c.row[:], c.sets.text[c.start:end]
			}
			c.i, c.start = c.i+1, end
		}
	}
	return n, nil
}

// lineSetBuffers hold the JSON of a batch's lines (~1.3 MB for 100 invoices of the benchmark month, 5 MB
// for its first, largest accounts) between batches: a close holds one at a time, from encoding a batch
// until it is committed, and two closes in one process (billrun schedule) two. Unlike a sync.Pool's,
// these outlive collections: a close collects several times while issuing, and a pool emptied each
// time had its buffers grown again from nothing — 51 MB allocated and cleared for the bench month's 50
// batches, 5.4 MB now. A long-lived process keeps up to two of them, at most 16 MB each.
var lineSetBuffers = bufferList{free: make(chan *[]byte, 2)}

// bufferList is a free list of byte buffers, up to cap(free) of them, of at most maxKeptBuffer bytes.
type bufferList struct{ free chan *[]byte }

const maxKeptBuffer = 16 << 20

// Get returns a kept buffer, or a new empty one.
func (l bufferList) Get() *[]byte {
	select {
	case b := <-l.free:
		return b
	default:
		return new([]byte)
	}
}

// Put keeps b, emptied, for a later Get, unless the list is full or b is larger than maxKeptBuffer.
func (l bufferList) Put(b *[]byte) {
	if cap(*b) > maxKeptBuffer {
		return
	}
	*b = (*b)[:0]
	select {
	case l.free <- b:
	default:
	}
}

// insertConsumptions checks and stores the batch's consumptions. Each consumption is checked as
// Issue checks it, in batch order: the grant exists and belongs to the document's account, and what
// effective documents have consumed of it — counting the batch's earlier documents and releasing
// what the invoices replaced so far had consumed — does not exceed its amount.
func (s *Store) insertConsumptions(ctx context.Context, tx *sqlx.Tx, docs []*invoices.Document, out []issued, voided map[int]int64) error {
	var grantIDs []string
	for _, doc := range docs {
		for _, c := range doc.Consumptions {
			grantIDs = append(grantIDs, c.GrantID)
		}
	}
	if len(grantIDs) == 0 {
		return nil
	}
	slices.Sort(grantIDs)
	grantIDs = slices.Compact(grantIDs)
	grants := make(map[string]grantRow, len(grantIDs))
	used := make(map[string]rating.Cents, len(grantIDs))
	err := inChunks(grantIDs, func(args []any) error {
		// Locked in id order, so concurrent issuers consuming the same grants wait rather than deadlock.
		var rows []grantRow
		if err := tx.SelectContext(ctx, &rows, s.q(`SELECT id, account_id, kind, amount_cents, granted_at, expires_at,
				source, 0 AS consumed_cents FROM grants WHERE id IN `+valuesList(1, len(args))+` ORDER BY `+s.bytewise("id")+s.forUpdate()),
			args...); err != nil {
			return fmt.Errorf("grants: %w", err)
		}
		for _, g := range rows {
			grants[g.ID] = g
		}
		// What effective documents consume now, the originals voided above no longer counted.
		var sums []struct {
			GrantID string `db:"grant_id"`
			Cents   int64  `db:"cents"`
		}
		if err := tx.SelectContext(ctx, &sums, s.q(`SELECT c.grant_id, CAST(SUM(c.amount_cents) AS BIGINT) AS cents
				FROM consumptions c JOIN documents d ON d.id = c.document_id
				WHERE c.grant_id IN `+valuesList(1, len(args))+` AND d.voided_at IS NULL GROUP BY c.grant_id`),
			args...); err != nil {
			return fmt.Errorf("grants consumed: %w", err)
		}
		for _, r := range sums {
			used[r.GrantID] = rating.Cents(r.Cents)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// released[id] is what the voided invoice id had consumed, per grant. Added back here, it is
	// released again when the batch reaches the replacement that voided it.
	released := map[int64]map[string]rating.Cents{}
	if len(voided) > 0 {
		if released, err = s.consumptionsOf(ctx, tx, slices.Collect(maps.Values(voided))); err != nil {
			return err
		}
		for _, byGrant := range released {
			for g, c := range byGrant {
				used[g] += c
			}
		}
	}
	ins := s.newInserter(tx, "consumptions", `INSERT INTO consumptions (document_id, position, grant_id, amount_cents) VALUES `,
		4, consumptionsPerInsert)
	defer ins.close()
	for i, doc := range docs {
		if id, ok := voided[i]; ok {
			for g, c := range released[id] {
				used[g] -= c
			}
		}
		for k, c := range doc.Consumptions {
			g, ok := grants[c.GrantID]
			switch {
			case !ok:
				return docErr(docs, i, fmt.Errorf("grant %s: %w", c.GrantID, invoices.ErrNotFound))
			case g.AccountID != doc.Account:
				return docErr(docs, i, fmt.Errorf("grant %s belongs to account %s", c.GrantID, g.AccountID))
			}
			used[c.GrantID] += c.Amount
			if used[c.GrantID] > rating.Cents(g.Amount) {
				return docErr(docs, i, fmt.Errorf("grant %s %w: %s consumed of %s", c.GrantID, invoices.ErrGrantOverdrawn,
					used[c.GrantID], rating.Cents(g.Amount)))
			}
			if err := ins.row(ctx, out[i].id, k, c.GrantID, int64(c.Amount)); err != nil {
				return err
			}
		}
	}
	return ins.flush(ctx)
}

// consumptionsOf returns what each of the documents ids consumed, per grant.
func (s *Store) consumptionsOf(ctx context.Context, tx *sqlx.Tx, ids []int64) (map[int64]map[string]rating.Cents, error) {
	out := make(map[int64]map[string]rating.Cents, len(ids))
	err := inChunks(ids, func(args []any) error {
		var rows []consumptionRow
		if err := tx.SelectContext(ctx, &rows, s.q(`SELECT document_id, position, grant_id, amount_cents
			FROM consumptions WHERE document_id IN `+valuesList(1, len(args))), args...); err != nil {
			return fmt.Errorf("consumptions of replaced invoices: %w", err)
		}
		for _, r := range rows {
			if out[r.DocumentID] == nil {
				out[r.DocumentID] = map[string]rating.Cents{}
			}
			out[r.DocumentID][r.GrantID] += rating.Cents(r.Amount)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// insertCreditNoteGrants creates the credit_note grant of each credit note of the batch.
func (s *Store) insertCreditNoteGrants(ctx context.Context, tx *sqlx.Tx, docs []*invoices.Document, out []issued) error {
	ins := s.newInserter(tx, "credit note grants", `INSERT INTO grants (id, account_id, kind, amount_cents, granted_at,
		expires_at, source) VALUES `, 7, grantsPerInsert)
	defer ins.close()
	for i, doc := range docs {
		if doc.Kind != invoices.KindCreditNote {
			continue
		}
		if err := ins.row(ctx, out[i].number, doc.Account, string(invoices.GrantCreditNote), int64(-doc.Subtotal),
			fmtTime(doc.IssuedAt), nil, out[i].number); err != nil {
			return err
		}
	}
	return ins.flush(ctx)
}

// inserter sends rows to one table in multi-row INSERTs of up to perInsert rows, through
// database/sql: a batch's line sets on SQLite (PostgreSQL takes them by COPY), consumptions and
// credit note grants, and an import's accounts and contracts. The statement of a full INSERT is
// prepared on the first one and reused for the next, so SQLite parses it once per transaction
// instead of once per statement.
type inserter struct {
	s         *Store
	tx        *sqlx.Tx
	what      string // for errors: "lines", "consumptions", …
	head      string // "INSERT INTO t (a, b) VALUES "
	tail      string // after the rows: " ON CONFLICT …", or nothing
	cols      int
	perInsert int
	full      *sql.Stmt
	args      []any
	rows      int // rows in args
	sent      int // rows inserted before them
}

func (s *Store) newInserter(tx *sqlx.Tx, what, head string, cols, perInsert int) *inserter {
	return &inserter{s: s, tx: tx, what: what, head: head, cols: cols, perInsert: perInsert}
}

// row adds one row of cols values, sending an INSERT when perInsert rows are waiting.
func (ins *inserter) row(ctx context.Context, values ...any) error {
	ins.args = append(ins.args, values...)
	ins.rows++
	if ins.rows < ins.perInsert {
		return nil
	}
	return ins.flush(ctx)
}

// flush sends the rows waiting, if any.
func (ins *inserter) flush(ctx context.Context) error {
	if ins.rows == 0 {
		return nil
	}
	var err error
	switch {
	case ins.rows < ins.perInsert:
		_, err = ins.tx.ExecContext(ctx, ins.s.insertSQL(ins.head, ins.rows, ins.cols, ins.tail), ins.args...)
	case ins.full == nil:
		ins.full, err = ins.tx.PrepareContext(ctx, ins.s.insertSQL(ins.head, ins.rows, ins.cols, ins.tail))
		if err == nil {
			_, err = ins.full.ExecContext(ctx, ins.args...)
		}
	default:
		_, err = ins.full.ExecContext(ctx, ins.args...)
	}
	if err != nil {
		return fmt.Errorf("%s %d–%d: %w", ins.what, ins.sent+1, ins.sent+ins.rows, err)
	}
	ins.sent += ins.rows
	ins.rows, ins.args = 0, ins.args[:0]
	return nil
}

// close releases the prepared statement; the transaction's end would too, but not before then.
func (ins *inserter) close() {
	if ins.full != nil {
		ins.full.Close()
	}
}

// inChunks calls fn with the values of ids as query arguments, idsPerSelect at a time (an IN list
// stays well below both databases' parameter limits).
func inChunks[T any](ids []T, fn func(args []any) error) error {
	for start := 0; start < len(ids); start += idsPerSelect {
		chunk := ids[start:min(start+idsPerSelect, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if err := fn(args); err != nil {
			return err
		}
	}
	return nil
}
