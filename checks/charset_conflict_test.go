package checks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/egress"
)

// A page whose header and meta charsets conflict and that fails
// footer_icp_missing says why in its evidence; a page whose declarations
// agree, or that passes, gets no such note.
func TestFooterCharsetConflictEvidence(t *testing.T) {
	conflict, err := os.ReadFile("testdata/footer/charset_conflict.html")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, ct string
		body     []byte
		outcome  Outcome
		want     []string // in the footer_icp_missing evidence and details; nil: no note
	}{
		{"header gbk, meta utf-8", "text/html; charset=GBK", conflict, Fail,
			[]string{"conflicting charsets", "header says gbk", "<meta> says utf-8", "decoded as gb18030", "where a filing number would be it reads", "CP"}},
		{"header gb2312, meta utf-8", "text/html; charset=gb2312", conflict, Fail,
			[]string{"header says gbk", "<meta> says utf-8"}},
		{"header agrees", "text/html; charset=utf-8", conflict, Pass, nil},
		{"no header charset", "text/html", conflict, Pass, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ct)
				w.Write(tc.body)
			}))
			defer srv.Close()
			f := NewFetcher(FetcherConfig{Timeout: 5 * time.Second, Policy: egress.Policy{AllowPrivate: true}})
			s := footerCase{}.site(t)
			s.URL = srv.URL + "/"
			r := Run(context.Background(), NewFooterCheck(f, FooterOptions{}), s)
			if r.Outcome != tc.outcome {
				t.Fatalf("outcome %s, want %s: %+v", r.Outcome, tc.outcome, r)
			}
			var ev string
			for _, f := range r.Findings {
				if f.Code == CodeFooterICPMissing {
					ev = f.Evidence
				}
			}
			if tc.want == nil {
				if strings.Contains(ev, "conflicting") || r.Details["charset_conflict"] != "" {
					t.Errorf("a note where the charsets agree: %q %q", ev, r.Details["charset_conflict"])
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(ev, w) || !strings.Contains(r.Details["charset_conflict"], w) {
					t.Errorf("evidence %q / details %q do not say %q", ev, r.Details["charset_conflict"], w)
				}
			}
			if !strings.Contains(ev, "characters of visible text") {
				t.Errorf("the note replaced the evidence instead of adding to it: %q", ev)
			}
		})
	}
}

// The note describes the page, not a verdict: a conflicting page that
// shows its number in ASCII-safe form still passes.
func TestCharsetConflictChangesNoVerdict(t *testing.T) {
	body := []byte(`<html><head><meta charset="utf-8"></head><body><footer><a href="https://beian.miit.gov.cn/">&#20140;ICP&#22791;2024000001&#21495;-1</a></footer></body></html>`)
	page := &Page{Header: http.Header{"Content-Type": {"text/html; charset=gbk"}}, Body: body, Charset: charsetGB18030}
	r := EvaluateFooter(body, footerCase{}.site(t), FooterOptions{})
	ExplainCharsetConflict(&r, page)
	if r.Outcome != Pass || r.Details["charset_conflict"] != "" {
		t.Errorf("%+v", r)
	}
}
