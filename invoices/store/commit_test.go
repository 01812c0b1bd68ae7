package store_test

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/invoices/store/storetest"
)

// commitHold is a TCP proxy in front of PostgreSQL. Once armed, it watches what the client sends for
// the first COMMIT (the SQL text "commit" as the protocol carries it, NUL-terminated), runs onCommit,
// and holds everything the server answers on that connection until onCommit has returned: the
// server has committed, and the client has not heard it yet.
type commitHold struct {
	ln       net.Listener
	target   string
	mu       sync.Mutex
	onCommit func() // nil when not armed; run once
}

func newCommitHold(t *testing.T, target string) *commitHold {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &commitHold{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go h.serve()
	return h
}

func (h *commitHold) arm(f func()) { h.mu.Lock(); h.onCommit = f; h.mu.Unlock() }

func (h *commitHold) take() func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.onCommit
	h.onCommit = nil
	return f
}

func (h *commitHold) serve() {
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", h.target)
		if err != nil {
			c.Close()
			continue
		}
		var gate sync.RWMutex // the client→server side write-locks it while onCommit runs
		go func() {
			defer s.Close()
			buf := make([]byte, 64<<10)
			var tail []byte // the end of the previous read, for a COMMIT split across reads
			for {
				n, err := c.Read(buf)
				if n > 0 {
					seen := append(tail, buf[:n]...)
					if i := bytes.LastIndex(bytes.ToLower(seen), []byte("commit\x00")); i >= 0 && i+7 > len(tail) {
						if f := h.take(); f != nil {
							gate.Lock()
							if _, err := s.Write(buf[:n]); err != nil {
								gate.Unlock()
								return
							}
							f()
							gate.Unlock()
							tail = nil
							continue
						}
					}
					if _, err := s.Write(buf[:n]); err != nil {
						return
					}
					tail = append(tail[:0], seen[max(0, len(seen)-8):]...)
				}
				if err != nil {
					return
				}
			}
		}()
		go func() {
			defer c.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 {
					gate.RLock()
					_, werr := c.Write(buf[:n])
					gate.RUnlock()
					if werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// TestIssueCommitOutlivesCancel: a batch's context that ends after COMMIT was sent and before the
// server's answer arrived must not turn a committed batch into a reported failure. The proxy makes
// that moment certain: it cancels the context once the COMMIT has gone to the server, waits, and only
// then lets the answer through. IssueBatch must report success, the batch must be in the database with
// its numbers on the documents, and the store must go on issuing. (This is the race CI once hit in
// testIssueBatchCanceled with 100 ms to go: "deadline exceeded", yet 10 documents stored.)
func TestIssueCommitOutlivesCancel(t *testing.T) {
	u, err := url.Parse(storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	h := newCommitHold(t, u.Host)
	u.Host = h.ln.Addr().String()
	s, err := store.Open(t.Context(), u.String(), testLogger(t))
	if err != nil {
		t.Fatalf("open through the proxy: %v", err)
	}
	defer s.Close()
	importAccounts(t, s, "a1", "a2")
	at := tm("2026-11-01T02:00:00Z")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	h.arm(func() {
		cancel()
		time.Sleep(200 * time.Millisecond) // time for a driver listening to ctx to give up on the answer
	})
	batch := []*invoices.Document{withLines(invoice("a1", oct, at, 0), 50), withLines(invoice("a2", oct, at, 0), 50)}
	err = s.IssueBatch(ctx, batch)
	if h.take() != nil {
		t.Fatal("the proxy saw no COMMIT: the test did not test anything")
	}
	var docs, lines int
	db := store.DB(s)
	if err := db.GetContext(t.Context(), &docs, `SELECT COUNT(*) FROM documents`); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(t.Context(), &lines, `SELECT COUNT(*) FROM document_lines`); err != nil {
		t.Fatal(err)
	}
	if err != nil || docs != 2 || lines != 100 {
		t.Fatalf("IssueBatch with its context canceled during COMMIT: err %v, %d documents and %d lines stored; want no error, 2 and 100",
			err, docs, lines)
	}
	// INV-2026-000001 and 2: numbers are taken in batch order.
	if batch[0].Number != "INV-2026-000001" || batch[1].Number != "INV-2026-000002" {
		t.Errorf("numbers %q, %q; want INV-2026-000001, INV-2026-000002", batch[0].Number, batch[1].Number)
	}

	// A context that ends before COMMIT is sent still rolls the batch back.
	ctx2, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if err := s.IssueBatch(ctx2, []*invoices.Document{invoice("a1", nov, at, 0)}); err == nil {
		t.Error("IssueBatch with a canceled context succeeded")
	}
	next := invoice("a2", nov, at, 0)
	mustIssue(t, s, next)
	if next.Number != "INV-2026-000003" {
		t.Errorf("next number = %s, want INV-2026-000003 (nothing of the canceled batch kept)", next.Number)
	}
}
