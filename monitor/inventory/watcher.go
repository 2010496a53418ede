package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// ReloadFunc hears the outcome of every reload attempt. inv is the
// inventory in effect afterwards: the new one when err is nil, else the last
// good one (nil if there never was one). lint lists the records the attempt
// skipped. Callbacks never run concurrently; a callback must not call
// Reload.
type ReloadFunc func(inv *Inventory, lint []LintError, err error)

// Watcher keeps an inventory fresh: it reloads when the file changes and
// when asked (the daemon calls Reload on SIGHUP), and keeps the last good
// inventory when a reload fails.
//
// A reload fails when the file cannot be read, its header or top level is
// broken, or it has records and none of them passes lint
// (ErrNoGoodRecords): "zero good sites" from a non-empty file is a broken
// export far more often than an intent, and acting on it would drop every
// site from watch. A file with no records at all (a header only) is taken
// at its word and empties the inventory. A reload with some bad records
// succeeds: the good ones load and the lint says what was skipped.
//
// A reload that would drop more than the max_shrink share of the sites
// (WithMaxShrink) is refused the same way, as a probably truncated export,
// unless the shrink marker (ShrinkMarker) accepts that exact file.
//
// The watch is on the file's directory, not the file, so that editors and
// exporters that save by writing a temporary file and renaming it over the
// old one are followed; events are debounced so that a file written in
// several pieces is read once, when it is complete, and after the quiet
// period the file must also keep its size and modification time for the
// settle time (WithSettle) before it is read. Writing a new inventory
// to a temporary file and renaming it into place is still the safe way to
// publish one. When the path is a symlink (a Kubernetes ConfigMap), the
// directory of its target is watched too.
type Watcher struct {
	path      string
	debounce  time.Duration
	settle    time.Duration
	maxShrink float64
	onReload  ReloadFunc

	current atomic.Pointer[Inventory]

	mu         sync.Mutex // serialises reloads and callbacks
	lastDigest string     // of the last file read, loaded or not
	// refused is the digest of the last file refused for shrinking: it
	// is read again (not skipped as unchanged) when a marker may now
	// accept it.
	refused string

	done chan struct{}
}

// WatcherOption configures a Watcher.
type WatcherOption func(*Watcher)

// WithDebounce sets how long the file must be quiet before it is reloaded
// (default 1s).
func WithDebounce(d time.Duration) WatcherOption {
	return func(w *Watcher) {
		if d > 0 {
			w.debounce = d
		}
	}
}

// WithSettle sets how long the file's size and modification time must
// stay the same before a changed file is read (default 3s): an exporter
// that rewrites the file in place, with pauses between pieces longer than
// the debounce, is read once it has finished.
func WithSettle(d time.Duration) WatcherOption {
	return func(w *Watcher) {
		if d > 0 {
			w.settle = d
		}
	}
}

// WithMaxShrink sets the largest share of sites (0.2: a fifth) a reload
// may drop; a file that drops more is refused (ErrShrink) unless a marker
// accepts it (see AcceptShrink). 1 or more accepts any shrink; default 0.2.
func WithMaxShrink(f float64) WatcherOption {
	return func(w *Watcher) {
		if f > 0 {
			w.maxShrink = f
		}
	}
}

// NewWatcher watches path, starting from current, the inventory the daemon
// loaded from it (nil if that failed). onReload may be nil.
func NewWatcher(path string, current *Inventory, onReload ReloadFunc, opts ...WatcherOption) *Watcher {
	w := &Watcher{path: path, debounce: time.Second, settle: 3 * time.Second, maxShrink: 0.2,
		onReload: onReload, done: make(chan struct{})}
	for _, o := range opts {
		o(w)
	}
	if current != nil {
		w.current.Store(current)
		w.lastDigest = current.Digest
	}
	return w
}

// Current is the inventory in effect (nil until one loads).
func (w *Watcher) Current() *Inventory { return w.current.Load() }

// Reload reloads the file now, whether or not it changed, and returns the
// inventory in effect afterwards, the lint of the attempt and why it failed.
func (w *Watcher) Reload() (*Inventory, []LintError, error) {
	return w.reload(true)
}

func (w *Watcher) reload(force bool) (*Inventory, []LintError, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, err := os.ReadFile(w.path)
	if err != nil {
		return w.report(nil, fmt.Errorf("reload inventory: %w", err))
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if !force && digest == w.lastDigest && digest != w.refused {
		// Touched, or another file in the directory changed: same content,
		// same result as last time; no news for the callback.
		return w.current.Load(), nil, nil
	}
	w.lastDigest = digest
	inv, lint, err := Parse(w.path, data)
	if err != nil {
		return w.report(nil, fmt.Errorf("reload inventory: %w", err))
	}
	if inv.Len() == 0 && len(lint) > 0 {
		return w.report(lint, fmt.Errorf("reload inventory %s: %d records, %w; keeping the last good inventory", w.path, len(lint), ErrNoGoodRecords))
	}
	if err := w.checkShrink(inv); err != nil {
		w.refused = digest
		return w.report(lint, err)
	}
	w.refused = ""
	w.current.Store(inv)
	if w.onReload != nil {
		w.onReload(inv, lint, nil)
	}
	return inv, lint, nil
}

// checkShrink refuses next when it drops more than maxShrink of the
// current inventory's sites, unless the shrink marker names next's digest.
// An accepted marker is removed: it accepts that one file only.
func (w *Watcher) checkShrink(next *Inventory) error {
	cur := w.current.Load()
	if cur.Len() == 0 || w.maxShrink >= 1 {
		return nil
	}
	gone := cur.Len() - next.Len()
	share := float64(gone) / float64(cur.Len())
	if gone <= 0 || share <= w.maxShrink {
		return nil
	}
	marker := ShrinkMarker(w.path)
	if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == next.Digest {
		os.Remove(marker)
		return nil
	}
	return &ShrinkError{Path: w.path, From: cur.Len(), To: next.Len(), Max: w.maxShrink, Digest: next.Digest}
}

// report hears a failed attempt; the caller holds w.mu.
func (w *Watcher) report(lint []LintError, err error) (*Inventory, []LintError, error) {
	cur := w.current.Load()
	if w.onReload != nil {
		w.onReload(cur, lint, err)
	}
	return cur, lint, err
}

// Start begins watching and returns once the watch is in place; it stops
// when ctx is done (Done is then closed). Problems with the watch itself are
// reported to the ReloadFunc as errors, with the current inventory.
func (w *Watcher) Start(ctx context.Context) error {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch inventory: %w", err)
	}
	dirs := []string{filepath.Dir(w.path)}
	// A symlinked file (ConfigMap: sites.csv -> ..data/sites.csv) changes by
	// the link being swapped, with no event naming the file: follow every
	// event in these directories instead, and let the digest tell.
	anyEvent := false
	if fi, err := os.Lstat(w.path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		anyEvent = true
		if target, err := filepath.EvalSymlinks(w.path); err == nil && filepath.Dir(target) != dirs[0] {
			dirs = append(dirs, filepath.Dir(target))
		}
	}
	for _, dir := range dirs {
		if err := fsw.Add(dir); err != nil {
			fsw.Close()
			return fmt.Errorf("watch inventory directory %s: %w", dir, err)
		}
	}
	go w.loop(ctx, fsw, filepath.Base(w.path), anyEvent)
	return nil
}

// Done is closed when the watch started by Start has stopped.
func (w *Watcher) Done() <-chan struct{} { return w.done }

func (w *Watcher) loop(ctx context.Context, fsw *fsnotify.Watcher, base string, anyEvent bool) {
	defer close(w.done)
	defer fsw.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var pending fileStat // the file as the last timer saw it
	marker := filepath.Base(ShrinkMarker(w.path))
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case ev, ok := <-fsw.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod || (!anyEvent && filepath.Base(ev.Name) != base && filepath.Base(ev.Name) != marker) {
				continue
			}
			timer.Reset(w.debounce)
		case err, ok := <-fsw.Errors:
			if !ok {
				return
			}
			w.mu.Lock()
			w.report(nil, fmt.Errorf("watch inventory: %w", err))
			w.mu.Unlock()
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost; one of them may have been ours.
				timer.Reset(w.debounce)
			}
		case <-timer.C:
			// Quiet for the debounce; now wait until the file itself
			// stops changing (an exporter may pause between pieces).
			st := statOf(w.path)
			if st != pending {
				pending = st
				timer.Reset(w.settle)
				continue
			}
			pending = fileStat{}
			w.reload(false)
		}
	}
}

// fileStat is what tells that a file is still being written.
type fileStat struct {
	size  int64
	mtime time.Time
	ok    bool
}

func statOf(path string) fileStat {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStat{}
	}
	return fileStat{size: fi.Size(), mtime: fi.ModTime(), ok: true}
}

// ShrinkMarker is the file that accepts one shrunk inventory: it sits next
// to the inventory (sites.csv.accept-shrink) and holds the hex SHA-256 of
// the inventory file it accepts. `beianwatch validate --accept-shrink`
// writes it; the daemon reads it on the next reload (the watch sees it
// appear; SIGHUP works too) and removes it once used. Binding it to the
// digest means a marker left behind never accepts a later, accidental cut.
func ShrinkMarker(inventoryPath string) string { return inventoryPath + ".accept-shrink" }

// AcceptShrink writes the shrink marker for the inventory file's current
// content, and returns the digest it accepts.
func AcceptShrink(inventoryPath string) (string, error) {
	data, err := os.ReadFile(inventoryPath)
	if err != nil {
		return "", fmt.Errorf("accept shrink: %w", err)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	marker := ShrinkMarker(inventoryPath)
	tmp := marker + ".tmp"
	if err := os.WriteFile(tmp, []byte(digest+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("accept shrink: %w", err)
	}
	if err := os.Rename(tmp, marker); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("accept shrink: %w", err)
	}
	return digest, nil
}

// ErrShrink: a reload would drop more sites than max_shrink allows.
var ErrShrink = errors.New("inventory shrank more than max_shrink allows")

// ShrinkError is a refused shrink, with the figures.
type ShrinkError struct {
	Path     string
	From, To int
	Max      float64
	Digest   string // of the refused file, for the marker
}

func (e *ShrinkError) Error() string {
	return fmt.Sprintf("reload inventory %s: %d sites would become %d (%.0f%% fewer; inventory.max_shrink allows %.0f%%); keeping the last inventory. "+
		"If the cut is intended, run beianwatch validate --accept-shrink (or write %s into %s and send SIGHUP)",
		e.Path, e.From, e.To, 100*float64(e.From-e.To)/float64(e.From), 100*e.Max, e.Digest, ShrinkMarker(e.Path))
}

func (e *ShrinkError) Unwrap() error { return ErrShrink }
