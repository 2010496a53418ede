package checks

import "github.com/beianwatch/beianwatch/beian"

// The filing-number grammar lives in beian (docs/architecture.md). The
// footer reads pages through the small adapter below: its own match and
// break types, so that the page reader keeps its unexported fields.

// icpMatch is one ICP number found in normalised text.
type icpMatch struct {
	Number                 ICPNumber
	start, end             int // byte offsets in the normalised text
	digitsStart, digitsEnd int
	nonstandard            []string // why the form is not the standard one
}

// psbMatch is one PSB number found in normalised text.
type psbMatch struct {
	Number                 PSBNumber
	start, end             int
	digitsStart, digitsEnd int
}

// textBreaks marks where a person sees normalised page text separated (see
// beian.TextBreaks).
type textBreaks struct {
	soft, hard []int // sorted byte offsets into the normalised text
}

// normalizer applies the footer normalisation (see beian.Normalizer),
// keeping its buffers across a page's text nodes.
type normalizer struct {
	n beian.Normalizer
}

func (n *normalizer) append(dst, src []byte) []byte { return n.n.Append(dst, src) }

func (n *normalizer) appendMarking(dst, src []byte, spaces *[]int) []byte {
	return n.n.AppendMarking(dst, src, spaces)
}

// normalizeNumberText applies the footer normalisation to a number written
// by a person.
func normalizeNumberText(s string) string { return beian.NormalizeNumber(s) }

// markOffset appends pos to a sorted offset list unless it is already last.
func markOffset(list []int, pos int) []int { return beian.MarkOffset(list, pos) }

// findNumbers scans normalised text for every ICP and PSB number.
func findNumbers(t string) (icps []icpMatch, psbs []psbMatch) {
	return findNumbersIn(t, nil)
}

// findNumbersIn scans normalised page text, whose breaks are brk, for
// every ICP and PSB number.
func findNumbersIn(t string, brk *textBreaks) (icps []icpMatch, psbs []psbMatch) {
	var b *beian.TextBreaks
	if brk != nil {
		b = &beian.TextBreaks{Soft: brk.soft, Hard: brk.hard}
	}
	beian.ScanNumbers(t, b, func(m beian.ICPMatch) {
		icps = append(icps, icpMatch{Number: m.Number, start: m.Start, end: m.End,
			digitsStart: m.DigitsStart, digitsEnd: m.DigitsEnd, nonstandard: m.Nonstandard})
	}, func(m beian.PSBMatch) {
		psbs = append(psbs, psbMatch{Number: m.Number, start: m.Start, end: m.End,
			digitsStart: m.DigitsStart, digitsEnd: m.DigitsEnd})
	})
	return icps, psbs
}

// any reports whether a break lies between byte pos-1 and byte pos.
func (b *textBreaks) any(pos int) bool {
	if b == nil {
		return false
	}
	return (&beian.TextBreaks{Soft: b.soft, Hard: b.hard}).Any(pos)
}
