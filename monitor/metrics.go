package monitor

import (
	"sync/atomic"
	"time"

	"github.com/beianwatch/beianwatch/checks"
)

// daemonMetrics connects the daemon to its metrics.
type daemonMetrics struct {
	d        *Daemon
	rejected atomic.Int64
}

func newDaemonMetrics(d *Daemon) *daemonMetrics { return &daemonMetrics{d: d} }

func (m *daemonMetrics) observeCheck(r checks.Result) {}

func (m *daemonMetrics) observeNotice(channel, kind, result string, d time.Duration) {}
