package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beianwatch/beianwatch/alerts"
	"github.com/beianwatch/beianwatch/beian"
)

var envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidEnvName reports whether s can name an environment variable (letters,
// digits and underscores, not starting with a digit).
func ValidEnvName(s string) bool { return envNameRe.MatchString(s) }

func (d *decoder) validate(c *Config) {
	d.hostPort("listen", c.Listen, false)

	switch c.Storage.Driver {
	case "sqlite":
		d.nonEmpty("storage.path", c.Storage.Path)
	case DriverPostgres:
		if d.nonEmpty("storage.dsn_env", c.Storage.DSNEnv) {
			d.envName("storage.dsn_env", c.Storage.DSNEnv)
		}
	default:
		d.errf("storage.driver", "unknown driver %q (want sqlite or postgres)", c.Storage.Driver)
	}

	// An empty inventory.path is allowed: the daemon watches 0 sites.
	if c.Inventory.Path != "" {
		switch strings.ToLower(filepath.Ext(c.Inventory.Path)) {
		case ".csv", ".yaml", ".yml":
		default:
			d.errf("inventory.path", "the format follows the extension: want .csv, .yaml or .yml, got %q", filepath.Base(c.Inventory.Path))
		}
	}

	d.positive("inventory.settle", c.Inventory.Settle)
	if c.Inventory.MaxShrink <= 0 || c.Inventory.MaxShrink > 1 {
		d.errf("inventory.max_shrink", "must be a fraction in (0, 1] (1 accepts any shrink), got %v", c.Inventory.MaxShrink)
	}
	d.positive("inventory.withdraw_after", c.Inventory.WithdrawAfter)

	c.Provider.Ranges = nil
	for i, s := range c.Provider.IPRanges {
		r, err := beian.ParseIPRange(s)
		if err != nil {
			d.errf(fmt.Sprintf("provider.ip_ranges[%d]", i), "%v", err)
			continue
		}
		c.Provider.Ranges = append(c.Provider.Ranges, r)
	}
	if !c.Provider.OpsChannel.IsZero() {
		d.channel("provider.ops_channel", c.Provider.OpsChannel)
	}

	if len(c.DNS.Resolvers) == 0 {
		d.errf("dns.resolvers", "at least one resolver is needed")
	}
	for i, r := range c.DNS.Resolvers {
		d.hostPort(fmt.Sprintf("dns.resolvers[%d]", i), r, true)
	}
	d.positive("dns.timeout", c.DNS.Timeout)

	d.positive("http.timeout", c.HTTP.Timeout)
	if c.HTTP.MaxBody <= 0 {
		d.errf("http.max_body", "must be more than 0")
	}
	d.nonEmpty("http.user_agent", c.HTTP.UserAgent)
	if c.HTTP.MaxRedirects < 0 || c.HTTP.MaxRedirects > 20 {
		d.errf("http.max_redirects", "must be between 0 and 20, got %d", c.HTTP.MaxRedirects)
	}

	if c.PhoneAPI.URL != "" {
		d.httpURL("phone_api.url", c.PhoneAPI.URL)
		if d.nonEmpty("phone_api.token_env", c.PhoneAPI.TokenEnv) {
			d.envName("phone_api.token_env", c.PhoneAPI.TokenEnv)
		}
	} else if c.PhoneAPI.TokenEnv != "" {
		d.envName("phone_api.token_env", c.PhoneAPI.TokenEnv)
	}
	if c.PhoneAPI.RatePerSecond <= 0 {
		d.errf("phone_api.rate_per_second", "must be more than 0")
	}
	d.positive("phone_api.cache_ttl_ok", c.PhoneAPI.CacheTTLOK)
	d.positive("phone_api.cache_ttl_bad", c.PhoneAPI.CacheTTLBad)

	d.positive("schedules.first_run_within", c.Schedules.FirstRunWithin)

	l := &c.Lifecycle
	d.atLeast("lifecycle.failure_threshold", l.FailureThreshold, 1)
	d.atLeast("lifecycle.success_threshold", l.SuccessThreshold, 1)
	d.positive("lifecycle.rectification_period", l.RectificationPeriod)
	d.positive("lifecycle.remind_every", l.RemindEvery)
	for _, code := range sortedKeys(l.RectificationPeriods) {
		key := "lifecycle.rectification_periods." + code
		if !beian.IsCode(code) {
			d.errf(key, "%q is not a finding code%s", code, codeHint(code))
		}
		d.positive(key, l.RectificationPeriods[code])
	}
	if l.Storm.Share <= 0 || l.Storm.Share > 1 {
		d.errf("lifecycle.storm.share", "must be a fraction in (0, 1], got %v", l.Storm.Share)
	}
	d.atLeast("lifecycle.storm.min_sites", l.Storm.MinSites, 1)
	d.positive("lifecycle.storm.window", l.Storm.Window)
	if l.Storm.Settle < 0 {
		d.errf("lifecycle.storm.settle", "must be a duration of 0 or more, got %v", l.Storm.Settle)
	}

	n := &c.Notices
	if n.Language != "zh" && n.Language != "en" {
		d.errf("notices.language", "want zh or en, got %q", n.Language)
	}
	n.Location = nil
	if d.nonEmpty("notices.timezone", n.Timezone) {
		loc, err := time.LoadLocation(n.Timezone)
		if err != nil {
			d.errf("notices.timezone", "unknown time zone %q (want an IANA name such as Asia/Shanghai)", n.Timezone)
		} else {
			n.Location = loc
		}
	}
	d.atLeast("notices.max_attempts", n.MaxAttempts, 1)
	d.positive("notices.retry_first", n.RetryFirst)
	d.positive("notices.retry_max", n.RetryMax)
	if n.RetryFirst > 0 && n.RetryMax > 0 && n.RetryMax < n.RetryFirst {
		d.errf("notices.retry_max", "must be at least notices.retry_first (%v), got %v", n.RetryFirst, n.RetryMax)
	}
	d.positive("notices.held_max_age", n.HeldMaxAge)

	if c.API.TokenEnv != "" {
		d.envName("api.token_env", c.API.TokenEnv)
	}

	if c.Log.Format != "text" && c.Log.Format != "json" {
		d.errf("log.format", "want text or json, got %q", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		d.errf("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}

	d.atLeast("checks.concurrency", c.Checks.Concurrency, 1)
	d.atLeast("checks.batch_size", c.Checks.BatchSize, 1)
	d.atLeast("checks.per_ip_concurrency", c.Checks.PerIPConcurrency, 1)

	d.positive("retention.history", c.Retention.History)
	d.positive("retention.record", c.Retention.Record)
	if c.Retention.Record > 0 && c.Retention.History > 0 && c.Retention.Record < c.Retention.History {
		d.errf("retention.record", "must be at least retention.history (%s), got %s", c.Retention.History, c.Retention.Record)
	}

	switch c.Render.Enabled {
	case "auto", "always", "never":
	default:
		d.errf("render.enabled", "want auto, always or never, got %q", c.Render.Enabled)
	}
	d.atLeast("render.max_tabs", c.Render.MaxTabs, 1)
	d.positive("render.timeout", c.Render.Timeout)
	d.atLeast("render.recycle_after", c.Render.RecycleAfter, 1)

	// Decoding reports problems as it meets them and validation per key;
	// the reader wants them in file order.
	slices.SortStableFunc(d.errs, func(a, b Error) int { return a.Line - b.Line })
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (d *decoder) nonEmpty(key, v string) bool {
	if strings.TrimSpace(v) == "" {
		d.errf(key, "must not be empty")
		return false
	}
	return true
}

func (d *decoder) positive(key string, v time.Duration) {
	if v <= 0 {
		d.errf(key, "must be a duration more than 0, got %v", v)
	}
}

func (d *decoder) atLeast(key string, v, least int) {
	if v < least {
		d.errf(key, "must be at least %d, got %d", least, v)
	}
}

// hostPort checks "host:port"; ipOnly demands an IP literal (a DNS
// resolver named by a host name would need DNS to be found).
func (d *decoder) hostPort(key, v string, ipOnly bool) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		d.errf(key, "want host:port, got %q", v)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		d.errf(key, "bad port %q in %q (want 1-65535)", port, v)
		return
	}
	if ipOnly {
		if _, err := netip.ParseAddr(host); err != nil {
			d.errf(key, "want an IP address and port such as 223.5.5.5:53 or [2400:3200::1]:53, got %q", v)
		}
	}
}

// httpURL checks an http(s) URL. The URL itself is never quoted back: it
// may carry a token.
func (d *decoder) httpURL(key, v string) {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		d.errf(key, "not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		d.errf(key, "want an http:// or https:// URL, got scheme %q", u.Scheme)
	case u.Host == "":
		d.errf(key, "URL has no host")
	}
}

// envName checks the name of an environment variable. The value is not
// quoted back: someone may have pasted the secret itself there.
func (d *decoder) envName(key, v string) {
	if !ValidEnvName(v) {
		d.errf(key, "not a valid environment variable name (letters, digits and _, not starting with a digit); this key holds the NAME of the variable that holds the secret, never the secret")
	}
}

// channel checks a channel's configuration: the shape here, then the
// channel kind's own rules in alerts (a WeCom URL without its key, a
// webhook without a secret), so that a channel that cannot deliver is a
// load error, not a dead notice.
func (d *decoder) channel(key string, ch Channel) {
	before := len(d.errs)
	if !slices.Contains(alerts.ChannelKinds(), ch.Kind) {
		d.errf(key+".kind", "want one of %s, got %q", strings.Join(alerts.ChannelKinds(), ", "), ch.Kind)
	}
	if d.nonEmpty(key+".url", ch.URL) {
		d.httpURL(key+".url", ch.URL)
	}
	if ch.SecretEnv != "" {
		d.envName(key+".secret_env", ch.SecretEnv)
	}
	if len(d.errs) > before {
		return
	}
	if err := alerts.ValidateChannel(ch.Kind, ch.URL, ch.SecretEnv != ""); err != nil {
		field := key + ".url"
		var ce *alerts.ChannelConfigError
		if errors.As(err, &ce) && ce.Field == "secret" {
			field = key + ".secret_env"
		}
		d.errf(field, "%s: %v", ch.Kind, err)
	}
}

// codeHint suggests the registered code nearest to a misspelt one (at most
// two edits away), or lists where the codes are documented.
func codeHint(code string) string {
	best, bestDist := "", 3
	for _, c := range beian.CodeNames(nil) {
		if d := editDistance(code, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (the finding codes are listed in docs/checks.md)"
}
