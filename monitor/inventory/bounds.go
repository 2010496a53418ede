package inventory

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Cell size limits. A domain name is at most 253 characters (RFC 1035);
// no other cell of a filing comes near 4 KB. A bigger cell is a broken
// export or a hostile file, and carrying it into logs, lint output and the
// store would cost far more than the record is worth.
const (
	MaxDomainChars = 253
	MaxCellBytes   = 4 << 10
	// MaxQuoted is how many characters of a cell a message quotes; longer
	// cells are cut with "…" and their size.
	MaxQuoted = 200
	// maxMsgBytes backs MaxQuoted up for messages that quote something
	// the cell-aware clipping did not recognise (an error from a parser
	// that rewrote the cell).
	maxMsgBytes = 1 << 10
)

// clip shortens s to MaxQuoted characters for a message, saying how long
// it was.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= MaxQuoted {
		return s
	}
	n := 0
	for i := range s {
		if n == MaxQuoted {
			return fmt.Sprintf("%s… (%d bytes)", s[:i], len(s))
		}
		n++
	}
	return s
}

// cellCap is the size limit of field's cell, and how it is counted.
func cellCap(field string) (limit int, unit string, size func(string) int) {
	if field == FieldDomain {
		return MaxDomainChars, "characters", utf8.RuneCountInString
	}
	return MaxCellBytes, "bytes", func(s string) int { return len(s) }
}

// checkCellSize reports a cell over its limit as a problem of r, and marks
// r so that nothing else about it is linted (every other message would
// quote the cell again). The cell kept on r is clipped.
func (r *record) checkCellSize(line int, field string, v string) string {
	limit, unit, size := cellCap(field)
	if n := size(v); n > limit {
		r.problems = append(r.problems, LintError{Line: line, Field: field,
			Msg: fmt.Sprintf("cell is %d %s, more than the limit of %d: %q", n, unit, limit, clip(v))})
		r.notRecord = true
		return clip(v)
	}
	return v
}

// cells are r's values as written, for clipping messages that quote them.
func (r *record) cells() []string {
	out := []string{r.domain, r.icp, r.psb, r.status, r.entity, r.url, r.ownerChannel, r.ownerURL, r.ownerSecretEnv}
	out = append(out, r.ipRanges...)
	out = append(out, r.contacts...)
	return append(out, r.tags...)
}

// boundMsg keeps a lint message short: every long cell of r it quotes is
// clipped to MaxQuoted characters, and the message as a whole is cut at
// maxMsgBytes whatever it quotes.
func boundMsg(msg string, r *record) string {
	if len(msg) <= MaxQuoted {
		return msg
	}
	for _, c := range r.cells() {
		if utf8.RuneCountInString(c) <= MaxQuoted {
			continue
		}
		short := clip(c)
		msg = strings.ReplaceAll(msg, strconv.Quote(c), strconv.Quote(short))
		msg = strings.ReplaceAll(msg, c, short)
	}
	if len(msg) > maxMsgBytes {
		cut := maxMsgBytes
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}
