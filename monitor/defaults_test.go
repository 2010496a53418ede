package monitor

import (
	"testing"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/egress"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/engine"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
)

// The built-in configuration (monitor/config/default.yaml) is the one
// source of the defaults; the packages below it keep zero-value defaults
// for callers without a configuration (tests, `check` as a library). Each
// of those must equal the YAML, so that a library user and the daemon
// behave alike; this test fails when one drifts.
func TestCodeDefaultsEqualDefaultYAML(t *testing.T) {
	c := config.Default()
	storm := lifecycle.DefaultStormConfig()
	lc := lifecycle.DefaultConfig()
	for _, tt := range []struct {
		what       string
		yaml, code any
	}{
		{"http.timeout / checks.DefaultFetchTimeout", c.HTTP.Timeout, checks.DefaultFetchTimeout},
		{"http.max_body / checks.DefaultMaxBody", int64(c.HTTP.MaxBody), int64(checks.DefaultMaxBody)},
		{"http.max_redirects / checks.DefaultMaxRedirects", c.HTTP.MaxRedirects, checks.DefaultMaxRedirects},
		{"http.max_redirects / egress.MaxRedirects", c.HTTP.MaxRedirects, egress.MaxRedirects},
		{"http.user_agent / checks.DefaultUserAgent", c.HTTP.UserAgent, checks.DefaultUserAgent},
		{"dns.timeout / checks.DefaultDNSTimeout", c.DNS.Timeout, checks.DefaultDNSTimeout},
		{"phone_api.cache_ttl_ok / checks.DefaultPhoneOKTTL", c.PhoneAPI.CacheTTLOK, checks.DefaultPhoneOKTTL},
		{"phone_api.cache_ttl_bad / checks.DefaultPhoneBadTTL", c.PhoneAPI.CacheTTLBad, checks.DefaultPhoneBadTTL},
		{"checks.batch_size / engine.DefaultBatchSize", c.Checks.BatchSize, engine.DefaultBatchSize},
		{"lifecycle.storm.window", c.Lifecycle.Storm.Window, storm.Window},
		{"lifecycle.storm.share", c.Lifecycle.Storm.Share, storm.Share},
		{"lifecycle.storm.min_sites", c.Lifecycle.Storm.MinSites, storm.MinSites},
		{"lifecycle.storm.settle", c.Lifecycle.Storm.Settle, storm.Settle},
		{"lifecycle.failure_threshold", c.Lifecycle.FailureThreshold, lc.FailureThreshold},
		{"lifecycle.success_threshold", c.Lifecycle.SuccessThreshold, lc.SuccessThreshold},
		{"lifecycle.rectification_period", c.Lifecycle.RectificationPeriod, lc.RectificationPeriod},
		{"lifecycle.remind_every", c.Lifecycle.RemindEvery, lc.RemindEvery},
		{"lifecycle.rectification_periods", len(c.Lifecycle.RectificationPeriods), len(lc.PeriodByCode)},
	} {
		if tt.yaml != tt.code {
			t.Errorf("%s: default.yaml says %v, the code %v", tt.what, tt.yaml, tt.code)
		}
	}
}
