package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
// The watch is on the file's directory, not the file, so that editors and
// exporters that save by writing a temporary file and renaming it over the
// old one are followed; events are debounced so that a file written in
// several pieces is read once, when it is complete. Writing a new inventory
// to a temporary file and renaming it into place is still the safe way to
// publish one. When the path is a symlink (a Kubernetes ConfigMap), the
// directory of its target is watched too.
type Watcher struct {
	path     string
	debounce time.Duration
	onReload ReloadFunc

	current atomic.Pointer[Inventory]

	mu         sync.Mutex // serialises reloads and callbacks
	lastDigest string     // of the last file read, loaded or not

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

// NewWatcher watches path, starting from current, the inventory the daemon
// loaded from it (nil if that failed). onReload may be nil.
func NewWatcher(path string, current *Inventory, onReload ReloadFunc, opts ...WatcherOption) *Watcher {
	w := &Watcher{path: path, debounce: time.Second, onReload: onReload, done: make(chan struct{})}
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
	if !force && digest == w.lastDigest {
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
	w.current.Store(inv)
	if w.onReload != nil {
		w.onReload(inv, lint, nil)
	}
	return inv, lint, nil
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
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case ev, ok := <-fsw.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod || (!anyEvent && filepath.Base(ev.Name) != base) {
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
			w.reload(false)
		}
	}
}
