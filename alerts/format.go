package alerts

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beianwatch/beianwatch/beian"
)

// shanghai is China Standard Time. China has kept UTC+8 without daylight
// saving since 1991, so a fixed zone is exact when the system has no tzdata.
var shanghai = time.FixedZone("CST", 8*60*60)

// loadZone resolves an IANA zone name; "" and "Asia/Shanghai" never fail.
func loadZone(name string) (*time.Location, error) {
	if name == "" {
		name = "Asia/Shanghai"
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		if name == "Asia/Shanghai" || name == "PRC" {
			return shanghai, nil
		}
		return nil, fmt.Errorf("load notice time zone %q: %w", name, err)
	}
	return loc, nil
}

// zoneLabel is "UTC+08:00" for the zone in effect at t.
func zoneLabel(t time.Time) string {
	_, off := t.Zone()
	sign := '+'
	if off < 0 {
		sign = '-'
		off = -off
	}
	return fmt.Sprintf("UTC%c%02d:%02d", sign, off/3600, off%3600/60)
}

// formatTime writes t in the notice zone the way each language's readers
// expect it, with the zone spelled out: owners read notices across zones.
func formatTime(t time.Time, loc *time.Location, lang string) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(loc)
	if lang == LangZH {
		return t.Format("2006年1月2日 15:04") + "（" + zoneLabel(t) + "）"
	}
	return t.Format("2 Jan 2006 15:04") + " (" + zoneLabel(t) + ")"
}

// daysLeft counts whole days from now to deadline, rounding up, so that a
// deadline 9 days and 1 hour away reads as 10 days. Negative when overdue.
func daysLeft(now, deadline time.Time) int {
	d := deadline.Sub(now)
	if d <= 0 {
		return -int((-d + 24*time.Hour - 1) / (24 * time.Hour))
	}
	return int((d + 24*time.Hour - 1) / (24 * time.Hour))
}

// maskPhones masks mobile numbers as 138****5678. The checks already mask
// them; this is a second line so that no caller can leak one into a group
// chat by mistake.
func maskPhones(s string) string { return beian.MaskMobilesIn(s) }

// oneLine folds whitespace runs (newlines included) into single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// truncateRunes cuts s to at most n runes, marking the cut with "…".
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n-1 {
			return s[:j] + "…"
		}
		i++
	}
	return s
}

// truncateBytes cuts s to at most n bytes of valid UTF-8 without splitting
// a rune, appending marker (counted in n) when it cuts. Vendors count
// limits in bytes (WeCom markdown: 4096) and reject what exceeds them.
func truncateBytes(s string, n int, marker string) string {
	if len(s) <= n {
		return s
	}
	if len(marker) >= n {
		marker = ""
	}
	cut := n - len(marker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + marker
}

// mdEscape escapes characters that DingTalk/WeCom markdown would treat as
// markup in text we do not control (domains, entity names).
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '`', '*', '_', '[', ']', '#', '<', '>', '|':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdCode shows evidence verbatim as inline code: page snippets are HTML,
// and a renderer must show the markup, not act on it.
func mdCode(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}
