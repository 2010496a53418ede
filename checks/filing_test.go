package checks

import (
	"strings"
	"testing"
)

// The footer's adapter over beian.FindNumbers keeps every match and its
// offsets.
func TestFindNumbersAdapter(t *testing.T) {
	text := normalizeNumberText("版权所有 京ICP备12345678号-1 京公网安备 11010802012345号")
	icps, psbs := findNumbers(text)
	if len(icps) != 1 || icps[0].Number.String() != "京ICP备12345678号-1" || !strings.HasPrefix(text[icps[0].start:], "京ICP备") ||
		text[icps[0].digitsStart:icps[0].digitsEnd] != "12345678" {
		t.Errorf("ICP matches: %+v", icps)
	}
	if len(psbs) != 1 || text[psbs[0].digitsStart:psbs[0].digitsEnd] != "11010802012345" || text[psbs[0].start:psbs[0].end] != "京公网安备11010802012345号" {
		t.Errorf("PSB matches: %+v", psbs)
	}
}
