package monitor

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/inventory"
)

func (h *harness) metric(name string) string {
	h.t.Helper()
	resp := h.api("GET", "/metrics")
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestDaemonInventoryReload: a reload with a bad record skips it and
// loads the rest; a broken file keeps the last good inventory and sets
// beianwatch_inventory_reload_success to 0; a removed site (a confirmed
// shrink) is suspended: its violation stays, and its owner hears nothing.
func TestDaemonInventoryReload(t *testing.T) {
	h := newHarness(t, []fixtureSite{
		{Domain: "a.example.cn"},
		{Domain: "b.example.cn", Footer: oldFooter},
	})
	h.start()
	h.runCheck(checks.CheckFooter, "b.example.cn")
	h.runCheck(checks.CheckFooter, "b.example.cn")
	if v := h.violations(""); v.Total != 1 {
		t.Fatalf("violations before reload: %+v", v.Items)
	}
	h.waitFor("the opened notice", func() bool { return len(h.received("/owner/b.example.cn")) == 1 })
	path := filepath.Join(h.dir, "sites.csv")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(orig)), "\n")

	// Drop b, add a record with a malformed ICP number.
	bad := strings.Replace(lines[1], "a.example.cn", "c.example.cn", -1)
	bad = strings.Replace(bad, testICP, "京ICP备123号", 1)
	writeFile(t, path, lines[0]+"\n"+lines[1]+"\n"+bad+"\n")
	// Half the sites gone: confirmed, as an operator would.
	if _, err := inventory.AcceptShrink(path); err != nil {
		t.Fatal(err)
	}
	h.d.Reload()
	if got := h.d.watcher.Current(); got.Len() != 1 || got.Lookup("a.example.cn") == nil {
		t.Fatalf("after reload with a bad record: %d sites", got.Len())
	}
	if v := h.metric("beianwatch_inventory_reload_success"); v != "1" {
		t.Errorf("reload_success = %q after a good reload", v)
	}
	if v := h.metric("beianwatch_inventory_sites_rejected"); v != "1" {
		t.Errorf("sites_rejected = %q, want 1", v)
	}
	if v := h.violations(""); v.Total != 1 {
		t.Errorf("the removed site's violation did not wait for withdraw_after: %+v", v.Items)
	}
	if sus, err := h.d.store.Suspensions(context.Background()); err != nil || len(sus) != 1 || sus[0].Domain != "b.example.cn" {
		t.Errorf("suspensions after the removal: %+v %v", sus, err)
	}

	// A broken file: the last good inventory stays.
	writeFile(t, path, "domain,nonsense_column\nx,y\n")
	h.d.Reload()
	if got := h.d.watcher.Current(); got.Len() != 1 || got.Lookup("a.example.cn") == nil {
		t.Fatalf("a broken file replaced the inventory: %d sites", got.Len())
	}
	if v := h.metric("beianwatch_inventory_reload_success"); v != "0" {
		t.Errorf("reload_success = %q after a failed reload, want 0", v)
	}
	if n := len(h.received("/owner/b.example.cn")); n != 1 {
		t.Errorf("the removed site's owner got %d notices, want only the opening", n)
	}
}
