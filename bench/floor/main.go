// Command floor measures the decompression floor of a usage tree: it gunzips every .jsonl.gz object
// under the dt= partitions of a directory with klauspost/compress (the decompressor billrun uses), a
// bounded number of objects in parallel, discarding the output. Nothing can read the usage faster, so
// bench/run.sh reports billrun rate as a multiple of it.
//
//	go run ./bench/floor -parallel 2 DIR
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"
)

// copyBufferBytes is the buffer decompressed bytes are copied through.
const copyBufferBytes = 256 << 10

func main() {
	parallel := flag.Int("parallel", 2, "objects decompressed at once")
	flag.Parse()
	if flag.NArg() != 1 || *parallel < 1 {
		fmt.Fprintln(os.Stderr, "usage: floor [-parallel N] DIR")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *parallel); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(dir string, parallel int) error {
	files, err := filepath.Glob(filepath.Join(dir, "dt=*", "*.jsonl.gz"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("no dt=*/*.jsonl.gz objects under " + dir)
	}
	start := time.Now()
	var raw, compressed, lines atomic.Int64
	var g errgroup.Group
	g.SetLimit(parallel)
	for _, name := range files {
		g.Go(func() error {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			buf := make([]byte, copyBufferBytes)
			var n, nl int64
			for {
				k, err := zr.Read(buf)
				n += int64(k)
				nl += int64(bytes.Count(buf[:k], []byte{'\n'}))
				if err == io.EOF {
					break
				}
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			st, err := f.Stat()
			if err != nil {
				return err
			}
			raw.Add(n)
			lines.Add(nl)
			compressed.Add(st.Size())
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Printf("objects %d\ncompressed_bytes %d\nraw_bytes %d\nlines %d\nseconds %.3f\n", len(files),
		compressed.Load(), raw.Load(), lines.Load(), el.Seconds())
	return nil
}
