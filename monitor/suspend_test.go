package monitor

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/inventory"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// editConfig rewrites the harness configuration before start.
func (h *harness) editConfig(old, new string) {
	h.t.Helper()
	b, err := os.ReadFile(h.cfgPath)
	if err != nil {
		h.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		h.t.Fatalf("config has no %q", old)
	}
	writeFile(h.t, h.cfgPath, strings.Replace(string(b), old, new, 1))
}

func (h *harness) allNotices() []store.Notice {
	h.t.Helper()
	ns, err := h.d.store.Notices(context.Background(), store.NoticeFilter{Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	return ns
}

// activeViolations is every active violation, in a stable order.
func (h *harness) activeViolations() []lifecycle.State {
	h.t.Helper()
	v := h.violations("?limit=1000")
	return v.Items
}

// TestHalfWrittenInventoryChangesNothing is the export script that
// rewrites the CSV in place: the daemon reads it while only 1 of 5 sites
// is written (the shrink guard off, so that what is tested is the
// suspension), then reads the complete file. Deadlines, violations and
// notices are exactly as they were: nothing withdrawn, no notice dead, no
// fresh "opened" notice, the waiting notice delivered with its own id.
func TestHalfWrittenInventoryChangesNothing(t *testing.T) {
	h := newHarness(t, []fixtureSite{
		{Domain: "a.example.cn"},
		{Domain: "b1.example.cn", Footer: oldFooter},
		{Domain: "b2.example.cn", Footer: oldFooter},
		{Domain: "c.example.cn"},
		{Domain: "d.example.cn"},
	})
	h.editConfig("inventory: {path: "+filepath.Join(h.dir, "sites.csv")+"}",
		"inventory: {path: "+filepath.Join(h.dir, "sites.csv")+", max_shrink: 1}")
	// Short retries and few attempts: a notice that kept being attempted
	// while its site was missing would be dead within seconds.
	h.editConfig("notices: {language: zh,", "notices: {retry_first: 200ms, retry_max: 400ms, max_attempts: 3, language: zh,")
	h.mu.Lock()
	h.hookDown["/owner/b2.example.cn"] = true
	h.mu.Unlock()
	h.start()
	ctx := context.Background()

	for range 2 {
		h.runCheck(checks.CheckFooter, "b1.example.cn")
		h.runCheck(checks.CheckFooter, "b2.example.cn")
	}
	h.waitFor("b1's opened notice", func() bool { return len(h.received("/owner/b1.example.cn")) == 1 })
	var waiting store.Notice
	h.waitFor("b2's notice failing and retrying", func() bool {
		ns, _ := h.d.store.Notices(ctx, store.NoticeFilter{Domain: "b2.example.cn"})
		if len(ns) == 1 && ns[0].Attempts >= 1 && ns[0].State == store.NoticeQueued {
			waiting = ns[0]
			return true
		}
		return false
	})
	violations := h.activeViolations()
	if len(violations) != 2 {
		t.Fatalf("want 2 open violations, got %+v", violations)
	}
	transitions := len(h.transitions("b1.example.cn")) + len(h.transitions("b2.example.cn"))

	path := filepath.Join(h.dir, "sites.csv")
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(full), "\n")
	half := lines[0] + lines[1] + lines[2][:len(lines[2])/2] // a, and half of b1's row
	writeFile(t, path, half)
	h.d.Reload()
	if n := h.d.watcher.Current().Len(); n != 1 {
		t.Fatalf("the half file was not read (%d sites): the test needs it read", n)
	}
	// Long enough for several retry rounds of b2's notice, and for the
	// receiver to come back: only the suspension keeps it from sending.
	h.mu.Lock()
	h.hookDown["/owner/b2.example.cn"] = false
	h.mu.Unlock()
	time.Sleep(3 * time.Second)
	if got := h.received("/owner/b2.example.cn"); len(got) != 0 {
		t.Errorf("b2's notice was sent while b2 was missing from the inventory: %+v", got)
	}
	for _, n := range h.allNotices() {
		if n.State == store.NoticeDead || n.State == store.NoticeDropped {
			t.Errorf("notice %s of %s went %s while its site was missing (%s)", n.ID, n.Domain, n.State, n.LastError)
		}
	}
	if got := h.activeViolations(); !reflect.DeepEqual(got, violations) {
		t.Errorf("violations changed while the sites were missing:\n got %+v\nwant %+v", got, violations)
	}

	writeFile(t, path, string(full))
	h.d.Reload()
	if n := h.d.watcher.Current().Len(); n != 5 {
		t.Fatalf("the full file: %d sites", n)
	}
	h.waitFor("b2's waiting notice delivered", func() bool { return len(h.received("/owner/b2.example.cn")) == 1 })
	if got := h.received("/owner/b2.example.cn")[0].ID; got != waiting.ID {
		t.Errorf("b2 got notice %s, want the one that was waiting, %s", got, waiting.ID)
	}

	// The sites are checked again: still failing, still the same
	// violation with the same deadline, and no fresh "opened" notice.
	h.runCheck(checks.CheckFooter, "b1.example.cn")
	h.runCheck(checks.CheckFooter, "b2.example.cn")
	got := h.activeViolations()
	if len(got) != len(violations) {
		t.Fatalf("violations after the full file: %+v", got)
	}
	for i := range got {
		w := violations[i]
		if got[i].Domain != w.Domain || got[i].Code != w.Code || got[i].Status != w.Status ||
			!got[i].OpenedAt.Equal(w.OpenedAt) || !got[i].Deadline.Equal(w.Deadline) {
			t.Errorf("violation %s %s: now %s opened %v deadline %v; was %s opened %v deadline %v",
				w.Domain, w.Code, got[i].Status, got[i].OpenedAt, got[i].Deadline, w.Status, w.OpenedAt, w.Deadline)
		}
	}
	if n := len(h.transitions("b1.example.cn")) + len(h.transitions("b2.example.cn")); n != transitions {
		t.Errorf("%d transitions recorded, want %d (nothing withdrawn, nothing re-opened)", n, transitions)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(h.received("/owner/")); n != 2 {
		t.Errorf("owners got %d notices, want 2 (one opening each)", n)
	}
	if n := len(h.allNotices()); n != 2 {
		t.Errorf("%d notices stored, want the 2 openings", n)
	}
	if sus, _ := h.d.store.Suspensions(ctx); len(sus) != 0 {
		t.Errorf("suspensions left after the sites came back: %+v", sus)
	}
}

// A site that stays out of the inventory for withdraw_after is withdrawn:
// its violations are recorded as withdrawn (the owner is not told) and its
// waiting notices are dropped with the reason.
func TestSuspendedSiteWithdrawnAfterWithdrawAfter(t *testing.T) {
	h := newHarness(t, []fixtureSite{
		{Domain: "a.example.cn"},
		{Domain: "b.example.cn", Footer: oldFooter},
	})
	h.mu.Lock()
	h.hookDown["/owner/b.example.cn"] = true
	h.mu.Unlock()
	h.start()
	ctx := context.Background()
	h.runCheck(checks.CheckFooter, "b.example.cn")
	h.runCheck(checks.CheckFooter, "b.example.cn")
	h.waitFor("b's notice attempted", func() bool {
		ns, _ := h.d.store.Notices(ctx, store.NoticeFilter{Domain: "b.example.cn"})
		return len(ns) == 1 && ns[0].Attempts >= 1
	})

	// Removing b halves the inventory: refused until confirmed.
	path := filepath.Join(h.dir, "sites.csv")
	orig, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(orig), "\n")
	writeFile(t, path, lines[0]+lines[1])
	h.d.Reload()
	if h.d.watcher.Current().Len() != 2 {
		t.Fatalf("a 50%% shrink was taken without confirmation")
	}
	if _, err := inventory.AcceptShrink(path); err != nil {
		t.Fatal(err)
	}
	h.d.Reload() // SIGHUP with the marker
	if h.d.watcher.Current().Len() != 1 {
		t.Fatalf("the confirmed shrink was not taken: %d sites", h.d.watcher.Current().Len())
	}
	sus, err := h.d.store.Suspensions(ctx)
	if err != nil || len(sus) != 1 || sus[0].Domain != "b.example.cn" {
		t.Fatalf("suspensions: %+v %v", sus, err)
	}

	h.clock.Advance(23 * time.Hour)
	h.d.withdrawExpired(ctx)
	if v := h.violations(""); v.Total != 1 {
		t.Fatalf("withdrawn before withdraw_after: %+v", v.Items)
	}
	h.clock.Advance(2 * time.Hour)
	h.d.withdrawExpired(ctx)
	if v := h.violations(""); v.Total != 0 {
		t.Errorf("still active after withdraw_after: %+v", v.Items)
	}
	trs := h.transitions("b.example.cn")
	if len(trs) == 0 || trs[0].Kind != "withdrawn" || !strings.Contains(trs[0].Reason, "withdraw_after") {
		t.Errorf("no withdrawn transition with the reason: %+v", trs)
	}
	ns, _ := h.d.store.Notices(ctx, store.NoticeFilter{Domain: "b.example.cn"})
	if len(ns) != 1 || ns[0].State != store.NoticeDropped || !strings.Contains(ns[0].LastError, "removed from the inventory") {
		t.Errorf("b's waiting notice: %+v", ns)
	}
	if sus, _ := h.d.store.Suspensions(ctx); len(sus) != 0 {
		t.Errorf("suspension left after the withdrawal: %+v", sus)
	}
}
