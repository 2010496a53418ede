package inventory

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const header = "domain,icp,status\n"

func row(n int) string {
	return "s" + string(rune('a'+n)) + ".example.cn,京ICP备2023012345号-" + string(rune('1'+n)) + ",filed\n"
}

func rows(n int) string {
	var b strings.Builder
	b.WriteString(header)
	for i := 0; i < n; i++ {
		b.WriteString(row(i))
	}
	return b.String()
}

const badRows = header + "bad.example.cn,not a number,filed\nworse.example.cn,京ICP备2023012345号-1,unknown\n"

type reloadEvent struct {
	inv  *Inventory
	lint []LintError
	err  error
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// renameInto saves the way editors and exporters do: a temporary file,
// renamed over the old one.
func renameInto(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp~"
	mustWrite(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func startWatcher(t *testing.T, path string, opts ...WatcherOption) (*Watcher, chan reloadEvent) {
	t.Helper()
	inv, _, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan reloadEvent, 16)
	w := NewWatcher(path, inv, func(inv *Inventory, lint []LintError, err error) {
		events <- reloadEvent{inv, lint, err}
	}, append([]WatcherOption{WithDebounce(50 * time.Millisecond), WithSettle(50 * time.Millisecond)}, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.Done():
		case <-time.After(5 * time.Second):
			t.Error("watcher did not stop")
		}
	})
	return w, events
}

func nextEvent(t *testing.T, events chan reloadEvent) reloadEvent {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no reload within 10s")
		return reloadEvent{}
	}
}

func TestWatcherFollowsChanges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sites.csv")
	mustWrite(t, path, rows(1))
	// Shrinking is TestWatcherShrink's business: allow any here.
	w, events := startWatcher(t, path, WithMaxShrink(1))
	if w.Current().Len() != 1 {
		t.Fatalf("start with %d sites", w.Current().Len())
	}

	steps := []struct {
		name     string
		change   func()
		wantLen  int // sites in effect after the change
		wantErr  bool
		wantLint int
		errIs    error
	}{
		{"write in place", func() { mustWrite(t, path, rows(2)) }, 2, false, 0, nil},
		{"rename over", func() { renameInto(t, path, rows(3)) }, 3, false, 0, nil},
		{"broken header keeps last good", func() { renameInto(t, path, "domain,icp,nonsense\n"+row(0)) }, 3, true, 0, nil},
		{"all records bad keeps last good", func() { renameInto(t, path, badRows) }, 3, true, 2, ErrNoGoodRecords},
		{"removed keeps last good", func() { os.Remove(path) }, 3, true, 0, os.ErrNotExist},
		{"back, with one bad record", func() { mustWrite(t, path, rows(2)+"bad.example.cn,x,filed\n") }, 2, false, 1, nil},
		{"emptied on purpose", func() { renameInto(t, path, header) }, 0, false, 0, nil},
	}
	for _, st := range steps {
		// Unrelated files in the directory do not trigger reloads.
		mustWrite(t, filepath.Join(dir, "notes.txt"), st.name)
		st.change()
		ev := nextEvent(t, events)
		if (ev.err != nil) != st.wantErr || (st.errIs != nil && !errors.Is(ev.err, st.errIs)) {
			t.Fatalf("%s: err = %v", st.name, ev.err)
		}
		if ev.inv.Len() != st.wantLen || w.Current().Len() != st.wantLen || len(ev.lint) != st.wantLint {
			t.Fatalf("%s: callback has %d sites and %d lint, current %d; want %d sites, %d lint",
				st.name, ev.inv.Len(), len(ev.lint), w.Current().Len(), st.wantLen, st.wantLint)
		}
		if ev.inv != w.Current() {
			t.Fatalf("%s: callback inventory is not the current one", st.name)
		}
	}
}

// A ConfigMap volume: sites.csv -> ..data/sites.csv, and an update swaps
// the ..data link; no event names sites.csv.
func TestWatcherSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"v1", "v2"} {
		if err := os.Mkdir(filepath.Join(dir, v), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite(t, filepath.Join(dir, "v1", "sites.csv"), rows(1))
	mustWrite(t, filepath.Join(dir, "v2", "sites.csv"), rows(4))
	if err := os.Symlink("v1", filepath.Join(dir, "..data")); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	path := filepath.Join(dir, "sites.csv")
	if err := os.Symlink(filepath.Join("..data", "sites.csv"), path); err != nil {
		t.Fatal(err)
	}
	w, events := startWatcher(t, path)
	if err := os.Symlink("v2", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, events)
	if ev.err != nil || ev.inv.Len() != 4 || w.Current().Len() != 4 {
		t.Fatalf("after swap: %v, %d sites", ev.err, ev.inv.Len())
	}
}

func TestReloadOnDemand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sites.yaml")
	mustWrite(t, path, "- {domain: a.example.cn, icp: 京ICP备2023012345号-1, status: filed}\n")
	inv, _, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls []reloadEvent
	w := NewWatcher(path, inv, func(inv *Inventory, lint []LintError, err error) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, reloadEvent{inv, lint, err})
	})

	// Unchanged file: an on-demand reload still reloads and reports.
	got, _, err := w.Reload()
	if err != nil || got.Len() != 1 || len(calls) != 1 {
		t.Fatalf("forced reload: %v, %d sites, %d calls", err, got.Len(), len(calls))
	}
	// A change-triggered reload of the same bytes is no news.
	if got, _, err := w.reload(false); err != nil || got != w.Current() || len(calls) != 1 {
		t.Fatalf("unchanged file reported: %v, %d calls", err, len(calls))
	}

	mustWrite(t, path, "- {domain: a.example.cn, icp: [broken\n")
	kept := w.Current()
	got, _, err = w.Reload()
	if err == nil || !strings.Contains(err.Error(), "YAML syntax") {
		t.Fatalf("broken file: err = %v", err)
	}
	if got != kept || w.Current() != kept || calls[len(calls)-1].inv != kept {
		t.Fatal("broken file replaced the last good inventory")
	}

	// No good inventory to start with: the first good reload provides one.
	w2 := NewWatcher(path, nil, nil)
	if w2.Current() != nil {
		t.Fatal("current without a load")
	}
	if _, _, err := w2.Reload(); err == nil || w2.Current() != nil {
		t.Fatalf("broken first load: %v %v", err, w2.Current())
	}
	mustWrite(t, path, "- {domain: b.example.cn, icp: 京ICP备2023012345号-2, status: filed}\n")
	if inv, _, err := w2.Reload(); err != nil || inv.Lookup("b.example.cn") == nil || w2.Current() != inv {
		t.Fatalf("good reload: %v", err)
	}
}

// An exporter rewriting the file in place, pausing between pieces for
// longer than the debounce: the watcher reads it once, complete.
func TestWatcherSettle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sites.csv")
	mustWrite(t, path, rows(5))
	w, events := startWatcher(t, path, WithSettle(2*time.Second), WithMaxShrink(1))

	full := rows(6)
	half := full[:len(header)+len(row(0))*2+10] // two rows and a torn third
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(half); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // > debounce (50ms), < settle (2s)
	if _, err := f.WriteString(full[len(half):]); err != nil {
		t.Fatal(err)
	}
	f.Close()

	ev := nextEvent(t, events)
	if ev.err != nil || ev.inv.Len() != 6 || len(ev.lint) != 0 {
		t.Fatalf("first reload: %d sites, %d lint, err %v; want the complete file (6 sites)", ev.inv.Len(), len(ev.lint), ev.err)
	}
	select {
	case ev := <-events:
		t.Fatalf("a second reload (%d sites, err %v): the half-written file was read", ev.inv.Len(), ev.err)
	case <-time.After(2500 * time.Millisecond):
	}
	if w.Current().Len() != 6 {
		t.Fatalf("current has %d sites", w.Current().Len())
	}
}

// A file that drops more than max_shrink of the sites is refused until a
// marker bound to its digest accepts it.
func TestWatcherShrink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sites.csv")
	mustWrite(t, path, rows(5))
	w, events := startWatcher(t, path) // default max_shrink 0.2

	// 5 -> 4 is exactly 20%: allowed.
	renameInto(t, path, rows(4))
	if ev := nextEvent(t, events); ev.err != nil || ev.inv.Len() != 4 {
		t.Fatalf("20%% shrink: %d sites, err %v", ev.inv.Len(), ev.err)
	}
	// 4 -> 2: refused, the last inventory kept.
	renameInto(t, path, rows(2))
	ev := nextEvent(t, events)
	var se *ShrinkError
	if !errors.Is(ev.err, ErrShrink) || !errors.As(ev.err, &se) || se.From != 4 || se.To != 2 {
		t.Fatalf("50%% shrink: err %v", ev.err)
	}
	if w.Current().Len() != 4 || ev.inv.Len() != 4 {
		t.Fatalf("a refused shrink replaced the inventory: %d sites", w.Current().Len())
	}
	for _, want := range []string{"4 sites would become 2", "accept-shrink"} {
		if !strings.Contains(ev.err.Error(), want) {
			t.Errorf("error %q does not say %q", ev.err, want)
		}
	}

	// A stale marker (another file's digest) accepts nothing.
	mustWrite(t, ShrinkMarker(path), strings.Repeat("0", 64)+"\n")
	if ev := nextEvent(t, events); !errors.Is(ev.err, ErrShrink) {
		t.Fatalf("stale marker: err %v", ev.err)
	}

	// The marker for this file: the watch sees it and takes the file.
	if _, err := AcceptShrink(path); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, events)
	for ev.err != nil && errors.Is(ev.err, ErrShrink) { // the .tmp's rename may come as two events
		ev = nextEvent(t, events)
	}
	if ev.err != nil || ev.inv.Len() != 2 || w.Current().Len() != 2 {
		t.Fatalf("accepted shrink: %d sites, err %v", ev.inv.Len(), ev.err)
	}
	if _, err := os.Stat(ShrinkMarker(path)); !os.IsNotExist(err) {
		t.Errorf("the used marker is still there: %v", err)
	}

	// It accepted that file only: the next cut is refused again, and
	// SIGHUP with a fresh marker takes it.
	renameInto(t, path, rows(1))
	if ev := nextEvent(t, events); !errors.Is(ev.err, ErrShrink) {
		t.Fatalf("a second cut after an accepted one: err %v", ev.err)
	}
	if _, err := AcceptShrink(path); err != nil {
		t.Fatal(err)
	}
	if inv, _, err := w.Reload(); err != nil || inv.Len() != 1 {
		t.Fatalf("SIGHUP with a marker: %d sites, err %v", inv.Len(), err)
	}
}
