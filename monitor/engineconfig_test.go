package monitor

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/inventory"
)

// The delivery settings in the file reach the engine: the first retry
// waits retry_first, later ones never more than retry_max (each ±20%).
func TestEngineConfigFromFile(t *testing.T) {
	cfg, err := config.Parse("beianwatch.yaml", []byte(`notices:
  max_attempts: 4
  retry_first: 30s
  retry_max: 2m
  held_max_age: 48h
`), "")
	if err != nil {
		t.Fatal(err)
	}
	ec := engineConfig(cfg, slog.New(slog.DiscardHandler), time.Now)
	if ec.NotifyMaxAttempts != 4 || ec.HeldMaxAge != 48*time.Hour {
		t.Errorf("max attempts %d, held max age %v", ec.NotifyMaxAttempts, ec.HeldMaxAge)
	}
	within := func(d, want time.Duration) bool {
		return d >= want*8/10 && d <= want*12/10
	}
	for range 50 {
		if d := ec.NotifyBackoff(1); !within(d, 30*time.Second) {
			t.Fatalf("first retry after %v, want 30s ±20%%", d)
		}
		if d := ec.NotifyBackoff(2); !within(d, time.Minute) {
			t.Fatalf("second retry after %v, want 1m ±20%%", d)
		}
		if d := ec.NotifyBackoff(9); !within(d, 2*time.Minute) {
			t.Fatalf("ninth retry after %v, want the 2m cap ±20%%", d)
		}
	}
}

// TestMakeRunFirstResultsWithinAMinute: `make run` passes the example
// configuration, whose first_run_within and the dispatch pace it implies
// put every example site's first run well inside the first minute (the
// rest of the minute is the checks' own time). The engine's tests prove
// the window itself.
func TestMakeRunFirstResultsWithinAMinute(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^run:.*\n\t\$\(BIN\)/beianwatch run --config (\S+)`)
	m := re.FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile's run target does not pass --config FILE")
	}
	cfg, err := config.Load(filepath.Join("..", string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Inventory.Path == "" {
		t.Fatal("make run's configuration has no inventory")
	}
	inv, _, err := inventory.Load(cfg.Inventory.Path)
	if err != nil || inv.Len() == 0 {
		t.Fatalf("make run's inventory %s: %d sites, %v", cfg.Inventory.Path, inv.Len(), err)
	}
	if want := filepath.Join("..", "data", "beianwatch.db"); cfg.Storage.Path != want {
		t.Errorf("store %s, want %s: relative to the repository, as before", cfg.Storage.Path, want)
	}
	w, every := cfg.Schedules.FirstRunWithin, dispatchEvery(cfg)
	if w+every > 40*time.Second {
		t.Errorf("first_run_within %v + dispatch every %v: first results could take longer than a minute", w, every)
	}
}
