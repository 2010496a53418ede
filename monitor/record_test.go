package monitor

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/entity"
	"github.com/beianwatch/beianwatch/monitor/inventory"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
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

// TestRecorderJudgesEntities: an audit --record judges entities as the
// daemon does, once it knows the inventory.
func TestRecorderJudgesEntities(t *testing.T) {
	dir := t.TempDir()
	csv := "domain,icp,status,entity\n" +
		"a.example.cn,京ICP备2024000888号-1,filed,丁公司\n" +
		"b.example.cn,京ICP备2024000888号-2,filed,丁公司\n"
	writeFile(t, filepath.Join(dir, "sites.csv"), csv)
	writeFile(t, filepath.Join(dir, "bw.yaml"), "storage: {path: bw.db}\ninventory: {path: sites.csv}\n")
	cfg, err := config.Load(filepath.Join(dir, "bw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	inv, _, err := inventory.Load(cfg.Inventory.Path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	rec, err := OpenRecorder(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	rec.SetInventory(inv)
	shell := func(d string) store.SiteResult {
		return store.SiteResult{Domain: d, Result: checks.Result{Check: checks.CheckShell, Outcome: checks.Fail,
			Findings: []checks.Finding{{Code: checks.CodeShellUnresolvable, Severity: checks.Violation}}}}
	}
	// Two audits: each site's shell violation opens at the second; the
	// entity fails once in the second batch (both confirmed then) and
	// opens in the third.
	for range 3 {
		now = now.Add(time.Hour)
		if _, err := rec.Record(ctx, []store.SiteResult{shell("a.example.cn"), shell("b.example.cn")}); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := rec.st.Violations(ctx, store.ViolationFilter{Code: entity.CodeEmptyShell})
	if err != nil || len(vs) != 1 || vs[0].Status != lifecycle.StatusOpen || vs[0].Domain != "a.example.cn" {
		t.Fatalf("entity violations %+v %v, want one open on a.example.cn", vs, err)
	}
}
