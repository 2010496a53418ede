package inventory

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// parseCSV reads a CSV inventory: a header row naming the columns (any
// order, unknown names rejected), then one site per row. Lines starting with
// '#' are comments. It returns the encoding the file was read in.
func parseCSV(name string, data []byte, b *builder) (string, error) {
	if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return "", fmt.Errorf("inventory %s: the file is UTF-16 (\"Unicode text\"); save it as \"CSV UTF-8\"", name)
	}
	data = stripBOM(data)
	encoding := "utf-8"
	if !utf8.Valid(data) {
		// Excel on Chinese Windows saves CSV in the ANSI code page, GBK;
		// GB18030 is its superset.
		dec, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
		// The decoder turns undecodable bytes into U+FFFD rather than
		// failing: a file full of them is neither encoding.
		if err != nil || !utf8.Valid(dec) || bytes.ContainsRune(dec, utf8.RuneError) {
			return "", fmt.Errorf("inventory %s: neither UTF-8 nor GB18030 text", name)
		}
		data, encoding = dec, "gb18030"
	}

	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.FieldsPerRecord = -1 // checked per row, so one short row is one lint error
	r.ReuseRecord = true

	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return "", fmt.Errorf("inventory %s: empty file: a header row is required (%s)", name, strings.Join(fields, ","))
	}
	if err != nil {
		return "", fmt.Errorf("inventory %s: header: %w", name, err)
	}
	headerLine, _ := r.FieldPos(0)
	cols, err := mapHeader(header)
	if err != nil {
		return "", fmt.Errorf("inventory %s:%d: %w", name, headerLine, err)
	}
	width := len(header)

	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				// A broken quote spoils this row, not the file.
				b.lint = append(b.lint, LintError{Line: pe.StartLine, Msg: fmt.Sprintf("unreadable CSV row: %v", pe.Err)})
				continue
			}
			return "", fmt.Errorf("inventory %s: %w", name, err)
		}
		line, _ := r.FieldPos(0)
		if blankRow(row) {
			continue // spreadsheets export trailing empty rows
		}
		rec := &record{line: line}
		if len(row) != width {
			rec.problems = append(rec.problems, LintError{Line: line,
				Msg: fmt.Sprintf("row has %d cells, the header has %d (a stray comma, or an unquoted cell with a comma?)", len(row), width)})
		}
		for i, cell := range row {
			if i >= width {
				break
			}
			cell = strings.TrimSpace(cell)
			if cols[i] < 0 {
				if cell != "" {
					rec.problems = append(rec.problems, LintError{Line: line, Msg: fmt.Sprintf("value in column %d, which has no header", i+1)})
				}
				continue
			}
			// A copy: the reader's strings share one allocation per row,
			// which a kept field would keep alive whole.
			rec.set(cols[i], strings.Clone(rec.checkCellSize(line, fields[cols[i]], cell)))
		}
		b.add(rec)
	}
	return encoding, nil
}

// mapHeader maps each column to its field index in fields, -1 for an
// unnamed column (spreadsheets export empty trailing columns).
func mapHeader(header []string) ([]int, error) {
	cols := make([]int, len(header))
	seen := map[string]int{}
	var unknown []string
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			cols[i] = -1
			continue
		}
		idx := slices.Index(fields, h)
		if idx < 0 {
			unknown = append(unknown, fmt.Sprintf("%q", h))
			continue
		}
		if first, dup := seen[h]; dup {
			return nil, fmt.Errorf("column %q appears twice (columns %d and %d)", h, first+1, i+1)
		}
		seen[h] = i
		cols[i] = idx
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown column %s (known: %s)", strings.Join(unknown, ", "), strings.Join(fields, ","))
	}
	var missing []string
	for _, f := range requiredFields {
		if _, ok := seen[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("header lacks required column %s (is the first row the header?)", strings.Join(missing, ", "))
	}
	return cols, nil
}

func blankRow(row []string) bool {
	for _, c := range row {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// set stores the value of field number idx (in fields).
func (r *record) set(idx int, v string) {
	switch fields[idx] {
	case FieldDomain:
		r.domain = v
	case FieldICP:
		r.icp = v
	case FieldPSB:
		r.psb = v
	case FieldStatus:
		r.status = v
	case FieldEntity:
		r.entity = v
	case FieldURL:
		r.url = v
	case FieldIPRanges:
		r.ipRanges = splitList(v)
	case FieldContacts:
		r.contacts = splitList(v)
	case FieldOwnerChannel:
		r.ownerChannel = v
	case FieldOwnerURL:
		r.ownerURL = v
	case FieldOwnerSecretEnv:
		r.ownerSecretEnv = v
	case FieldTags:
		r.tags = splitList(v)
	}
}
