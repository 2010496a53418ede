package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
)

// spool keeps the checked sites on disk until the report is written. An
// audit of 100,000 sites holds about 150 MB of results; in memory they
// pushed the run past 300 MB, on disk they cost a file the size of the
// JSON report and about 50 bytes of index per site.
type spool struct {
	f     *os.File
	w     *bufio.Writer
	off   int64
	index []spoolEntry
	buf   bytes.Buffer
	enc   *json.Encoder
}

type spoolEntry struct {
	domain string
	off    int64
	n      int32
}

// newSpool creates the spool file in dir ("" is the system's temporary
// directory). The file is unlinked at once where the system allows it, so
// a killed audit leaves nothing behind.
func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "beianwatch-audit-*.spool")
	if err != nil {
		return nil, fmt.Errorf("creating the audit spool: %w", err)
	}
	// Where an open file cannot be unlinked, close removes it instead.
	_ = os.Remove(f.Name())
	sp := &spool{f: f, w: bufio.NewWriterSize(f, 64<<10)}
	sp.enc = json.NewEncoder(&sp.buf)
	sp.enc.SetEscapeHTML(false) // page text stays readable in the JSON report
	return sp, nil
}

// add appends one site, already masked.
func (sp *spool) add(s *SiteReport) error {
	sp.buf.Reset()
	if err := sp.enc.Encode(s); err != nil {
		return fmt.Errorf("spooling %s: %w", s.Domain, err)
	}
	b := bytes.TrimSuffix(sp.buf.Bytes(), []byte("\n"))
	if _, err := sp.w.Write(b); err != nil {
		return fmt.Errorf("spooling %s: %w", s.Domain, err)
	}
	sp.index = append(sp.index, spoolEntry{domain: s.Domain, off: sp.off, n: int32(len(b))})
	sp.off += int64(len(b))
	return nil
}

// seal flushes the spool and orders it by domain, so that two audits of
// the same inventory compare line by line.
func (sp *spool) seal() error {
	if err := sp.w.Flush(); err != nil {
		return fmt.Errorf("writing the audit spool: %w", err)
	}
	slices.SortStableFunc(sp.index, func(a, b spoolEntry) int { return cmp.Compare(a.domain, b.domain) })
	return nil
}

// raw yields each site's compact JSON in domain order. The slice is reused
// between iterations.
func (sp *spool) raw() iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		var buf []byte
		for _, e := range sp.index {
			if cap(buf) < int(e.n) {
				buf = make([]byte, e.n)
			}
			buf = buf[:e.n]
			if n, err := sp.f.ReadAt(buf, e.off); n < len(buf) {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				yield(nil, fmt.Errorf("reading the audit spool: %w", err))
				return
			}
			if !yield(buf, nil) {
				return
			}
		}
	}
}

func (sp *spool) close() error {
	name := sp.f.Name()
	err := sp.f.Close()
	os.Remove(name) // already gone where the system allowed unlinking an open file
	return err
}
