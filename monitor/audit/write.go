package audit

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/beianwatch/beianwatch/beian"
)

// Formats are the report formats, for flags and errors.
func Formats() []string { return []string{"json", "csv", "html"} }

// WriteJSON writes the report as indented JSON. Pages' text is kept
// readable (no \u003c escapes): this is data, not HTML.
func WriteJSON(w io.Writer, r *Report) error {
	// One site at a time, straight from the spool: a 100,000-site report
	// is about 150 MB of JSON.
	bw := bufio.NewWriterSize(w, 64<<10)
	var sum bytes.Buffer
	enc := json.NewEncoder(&sum)
	enc.SetEscapeHTML(false)
	enc.SetIndent("  ", "  ")
	if err := enc.Encode(r.Summary); err != nil {
		return fmt.Errorf("writing the JSON report: %w", err)
	}
	bw.WriteString("{\n  \"summary\": ")
	bw.Write(bytes.TrimRight(sum.Bytes(), "\n"))
	bw.WriteString(",\n  \"sites\": [")
	var site bytes.Buffer
	n := 0
	for raw, err := range r.sites.raw() {
		if err != nil {
			return fmt.Errorf("writing the JSON report: %w", err)
		}
		site.Reset()
		if err := json.Indent(&site, raw, "    ", "  "); err != nil {
			return fmt.Errorf("writing the JSON report: %w", err)
		}
		if n > 0 {
			bw.WriteByte(',')
		}
		n++
		bw.WriteString("\n    ")
		bw.Write(site.Bytes())
	}
	if n > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]\n}\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing the JSON report: %w", err)
	}
	return nil
}

// csvHeader is the column set of the CSV report. Columns are only ever
// added at the end, so that sheets reading by position keep working.
var csvHeader = []string{"domain", "icp", "check", "outcome", "code", "severity", "message", "evidence",
	"reason", "entity", "tags", "owner_channel", "fix"}

// utf8BOM lets Excel on Chinese Windows read the file as UTF-8 instead of
// GBK.
const utf8BOM = "\ufeff"

// CSVOptions configure WriteCSV.
type CSVOptions struct {
	// Fixes supplies the fix column; nil leaves it empty.
	Fixes FixTexts
	// Lang is the language of the fix text, zh (default) or en.
	Lang string
}

// WriteCSV writes, after a UTF-8 BOM and a header, one row per finding and
// one per inconclusive check (its reason, and an empty code: a person has
// to look at these), each with whom it concerns (entity, tags, the kind of
// the owner's channel) and how to fix it. Sites that passed have no row:
// the summary (JSON, HTML) counts them.
func WriteCSV(w io.Writer, r *Report, o CSVOptions) error {
	if _, err := io.WriteString(w, utf8BOM); err != nil {
		return fmt.Errorf("writing the CSV report: %w", err)
	}
	lang := o.Lang
	if lang == "" {
		lang = "zh"
	}
	fixes := map[string]string{}
	fixOf := func(code string) string {
		if o.Fixes == nil || code == "" {
			return ""
		}
		f, ok := fixes[code]
		if !ok {
			_, f, _ = o.Fixes.Fix(code, lang)
			fixes[code] = f
		}
		return f
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // what spreadsheets write and expect
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("writing the CSV report: %w", err)
	}
	for s, err := range r.Sites() {
		if err != nil {
			return fmt.Errorf("writing the CSV report: %w", err)
		}
		tags := tagsCell(s.Tags)
		write := func(res beian.Result, f beian.Finding) error {
			row := []string{s.Domain, s.ICP, res.Check, string(res.Outcome), f.Code, string(f.Severity), f.Message, f.Evidence,
				res.Reason, s.Entity, tags, s.OwnerChannel, fixOf(f.Code)}
			for i := range row {
				row[i] = cellSafe(row[i])
			}
			return cw.Write(row)
		}
		for _, res := range s.Results {
			for _, f := range res.Findings {
				if err := write(res, f); err != nil {
					return fmt.Errorf("writing the CSV report: %w", err)
				}
			}
			if res.Outcome == beian.Inconclusive {
				if err := write(res, beian.Finding{}); err != nil {
					return fmt.Errorf("writing the CSV report: %w", err)
				}
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing the CSV report: %w", err)
	}
	return nil
}

// tagsCell writes tags as the inventory does: key=value;key=value, sorted.
func tagsCell(tags map[string]string) string {
	parts := make([]string, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	return strings.Join(parts, ";")
}

// cellSafe defuses spreadsheet formulas. Evidence is text from pages we do
// not control; a cell starting with = + - @ would be run as a formula when
// the provider opens the file. A leading apostrophe makes it text.
func cellSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
