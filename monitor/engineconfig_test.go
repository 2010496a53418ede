package monitor

import (
	"log/slog"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/monitor/config"
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
