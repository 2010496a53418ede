package beian

import (
	"strings"
	"testing"
)

// MapText maps every free-text field of a copy and leaves the result it
// was called on as it was: readers share stored results.
func TestResultMapText(t *testing.T) {
	r := Result{Check: "footer", Reason: "r", Findings: []Finding{{Code: "c", Message: "m", Evidence: "e"}},
		Details: map[string]string{"k": "v"}, Unjudged: []string{"u"}}
	got := r.MapText(strings.ToUpper)
	if got.Reason != "R" || got.Findings[0].Message != "M" || got.Findings[0].Evidence != "E" || got.Details["k"] != "V" {
		t.Errorf("mapped %+v", got)
	}
	if got.Findings[0].Code != "c" || got.Check != "footer" || got.Unjudged[0] != "u" {
		t.Errorf("codes and names must stay: %+v", got)
	}
	if r.Reason != "r" || r.Findings[0].Message != "m" || r.Details["k"] != "v" {
		t.Errorf("the original changed: %+v", r)
	}
	if empty := (Result{}).MapText(strings.ToUpper); empty.Findings != nil || empty.Details != nil {
		t.Errorf("nil lists became %+v", empty)
	}
}
