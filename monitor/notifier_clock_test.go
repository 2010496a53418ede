package monitor

import (
	"testing"
	"time"
)

// The notifier's endpoint pacing runs on the notifier's injected clock, not
// the wall clock: a Retry-After block set at the injected time and a slot
// reserved at it must agree, or a test clock (or a daemon with its clock
// set) paces against two different times.
func TestNotifierPacesOnItsClock(t *testing.T) {
	t0 := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	n := &notifier{now: func() time.Time { return t0 }}
	l := n.endpoints()
	if got := l.now(); !got.Equal(t0) {
		t.Fatalf("endpoint limits read %v, want the injected %v", got, t0)
	}
	if got := n.clock(); !got.Equal(t0) {
		t.Fatalf("notifier clock = %v, want %v", got, t0)
	}
	// Blocked for a minute of injected time: the next reservation waits
	// that minute, which it would not if the block were set on the wall
	// clock (years before t0).
	l.block("wecom", "wecom-key", n.clock().Add(time.Minute))
	if wait := l.reserve("n1", "wecom", "wecom-key"); wait < 59*time.Second || wait > time.Minute {
		t.Errorf("reserve after a one-minute block waits %v, want about a minute", wait)
	}
}
