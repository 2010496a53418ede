package monitor

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// TestRecorderBesideRunningDaemon: an audit's --record writes into the
// store of a daemon that is running, while the daemon records its own
// checks; the violation opens from the audit's runs and the daemon's
// workers deliver the notice, once.
func TestRecorderBesideRunningDaemon(t *testing.T) {
	h := newHarness(t, []fixtureSite{
		{Domain: "broken.example.cn", Footer: oldFooter},
		{Domain: "good.example.cn"},
	})
	h.start()
	cfg, err := config.Load(h.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec, err := OpenRecorder(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), h.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()

	failing := store.SiteResult{Domain: "broken.example.cn", Result: checks.Result{
		Check: checks.CheckFooter, Outcome: checks.Fail,
		Findings: []checks.Finding{{Code: checks.CodeFooterLinkObsolete, Severity: checks.Violation, Message: "m", Evidence: "e"}},
	}}
	for i := range 2 {
		// The daemon writes at the same time.
		h.runCheck(checks.CheckFooter, "good.example.cn")
		if _, err := rec.Record(ctx, []store.SiteResult{failing}); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if v := h.violations("?state=open"); v.Total != 1 || v.Items[0].Domain != "broken.example.cn" {
		t.Fatalf("open violations: %+v", v.Items)
	}
	h.waitFor("the daemon to deliver the audit's notice", func() bool {
		return len(h.received("/owner/broken.example.cn")) == 1
	})
	if n := len(h.received("/owner/good.example.cn")); n != 0 {
		t.Errorf("good site's owner got %d notices", n)
	}
}
