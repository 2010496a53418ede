// Package config loads the daemon's configuration: one YAML file, decoded
// through yaml.Node so that every problem is reported with the file, the line
// and the key path (beianwatch.yaml:12: schedules.dns: bad cron spec ...),
// and all problems are reported at once rather than the first one only.
//
// A file overlays the built-in defaults (default.yaml, embedded): it only
// needs to state what differs. Unknown keys are errors, so a misspelt key
// never silently falls back to a default.
//
// Relative paths (storage.path, inventory.path, notices.templates_dir) are
// resolved where they were written: a path set in a configuration file is
// relative to that file's directory, so the daemon finds its files whatever
// its working directory; a path inherited from the built-in defaults stays
// relative to the working directory, which is what `beianwatch run` with no
// configuration expects.
//
// Secrets never enter the configuration: it holds the NAMES of environment
// variables (secret_env, token_env) and Secret reads a value only when the
// caller needs it, so a Config can be printed or logged safely. Webhook URLs
// may carry tokens of their own (DingTalk's access_token): show them with
// RedactURL.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	// Timezones must load on minimal machines and containers without a
	// zoneinfo database.
	_ "time/tzdata"

	"github.com/beianwatch/beianwatch/beian"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultFileName is the name under which the built-in defaults report
// problems (they have none; a test keeps it that way).
const DefaultFileName = "(built-in defaults)"

// Config is the whole daemon configuration. Fields tagged yaml:"-" are
// derived while loading (parsed schedules, the time zone) and are not keys.
type Config struct {
	// File is the configuration file this was loaded from; "" for the
	// built-in defaults.
	File string `yaml:"-"`

	Listen       string    `yaml:"listen"`
	Storage      Storage   `yaml:"storage"`
	Inventory    Inventory `yaml:"inventory"`
	AllowPrivate bool      `yaml:"allow_private"`
	Provider     Provider  `yaml:"provider"`
	DNS          DNS       `yaml:"dns"`
	HTTP         HTTP      `yaml:"http"`
	PhoneAPI     PhoneAPI  `yaml:"phone_api"`
	Schedules    Schedules `yaml:"schedules"`
	Lifecycle    Lifecycle `yaml:"lifecycle"`
	Notices      Notices   `yaml:"notices"`
	API          API       `yaml:"api"`
	Log          Log       `yaml:"log"`
	Checks       Checks    `yaml:"checks"`
	Retention    Retention `yaml:"retention"`
	Render       Render    `yaml:"render"`
}

// Storage is where state, history and the job queue live.
type Storage struct {
	// Driver is "sqlite" (one embedded file, one daemon) or "postgres"
	// (several daemons sharing one database, see docs/operations.md).
	Driver string `yaml:"driver"`
	// Path is the SQLite database file.
	Path string `yaml:"path"`
	// DSNEnv names the environment variable holding the PostgreSQL
	// connection string (it may carry a password, so it is never in the
	// file).
	DSNEnv string `yaml:"dsn_env"`
}

// DriverPostgres is storage.driver for a shared PostgreSQL.
const DriverPostgres = "postgres"

// Inventory says where the list of watched sites is.
type Inventory struct {
	// Path is a .csv, .yaml or .yml file; the format follows the extension.
	// "" (the built-in default) means no inventory: nothing is watched.
	Path string `yaml:"path"`
	// Settle is how long the file must stay unchanged (size and
	// modification time) before the daemon reads it after a change: an
	// export written in place is read once it is complete.
	Settle time.Duration `yaml:"settle"`
	// MaxShrink is the largest share of sites a reload may drop (0.2: a
	// fifth) before it is refused as a probably truncated export; larger
	// cuts need confirming (beianwatch validate --accept-shrink). 1 turns
	// the guard off.
	MaxShrink float64 `yaml:"max_shrink"`
	// WithdrawAfter is how long a site may be missing from the inventory
	// before its violations are withdrawn. Until then it is suspended:
	// not checked, its deadlines kept, its notices waiting.
	WithdrawAfter time.Duration `yaml:"withdraw_after"`
}

// Provider describes the access provider running the daemon.
type Provider struct {
	Name string `yaml:"name"`
	// IPRanges are the provider's own addresses: a site resolving into them
	// is still hosted here even if its filing lists other ranges.
	IPRanges []string `yaml:"ip_ranges"`
	// Ranges is IPRanges parsed.
	Ranges []beian.IPRange `yaml:"-"`
	// OpsChannel hears escalations and storm alerts. Empty kind: none.
	OpsChannel Channel `yaml:"ops_channel"`
}

// Channel is a notice destination.
type Channel struct {
	// Kind is webhook, dingtalk, wecom, feishu or slack.
	Kind string `yaml:"kind"`
	URL  string `yaml:"url"`
	// SecretEnv names the environment variable holding the signing secret.
	SecretEnv string `yaml:"secret_env"`
}

// IsZero reports whether no channel is configured.
func (c Channel) IsZero() bool { return c.Kind == "" && c.URL == "" && c.SecretEnv == "" }

// DNS configures the resolvers used by the dns and shell checks.
type DNS struct {
	// Resolvers are IP:port addresses of recursive resolvers.
	Resolvers []string `yaml:"resolvers"`
	// Authoritative also asks the zone's authoritative servers, which see a
	// paused domain before caches do.
	Authoritative bool          `yaml:"authoritative"`
	Timeout       time.Duration `yaml:"timeout"`
}

// HTTP configures homepage fetching.
type HTTP struct {
	Timeout      time.Duration `yaml:"timeout"`
	MaxBody      ByteSize      `yaml:"max_body"`
	UserAgent    string        `yaml:"user_agent"`
	MaxRedirects int           `yaml:"max_redirects"`
}

// PhoneAPI configures the number-status provider. An empty URL means
// reachability is not checked (format checks still run).
type PhoneAPI struct {
	URL           string        `yaml:"url"`
	TokenEnv      string        `yaml:"token_env"`
	RatePerSecond float64       `yaml:"rate_per_second"`
	CacheTTLOK    time.Duration `yaml:"cache_ttl_ok"`
	CacheTTLBad   time.Duration `yaml:"cache_ttl_bad"`
}

// Schedules say how often each check runs over the inventory.
type Schedules struct {
	Footer  Schedule `yaml:"footer"`
	Shell   Schedule `yaml:"shell"`
	DNS     Schedule `yaml:"dns"`
	Contact Schedule `yaml:"contact"`
	// FirstRunWithin bounds the wait for a site's first run: a site the
	// store has never checked (a new database, a site just added) runs
	// within this window, or within its check's interval when that is
	// shorter, spread over it; afterwards it keeps its usual place in the
	// interval. An operator adding sites wants to see them judged today,
	// not in six hours.
	FirstRunWithin time.Duration `yaml:"first_run_within"`
}

// ByCheck returns the schedule of a check by its name (beian.CheckFooter,
// ...), and false for an unknown name.
func (s Schedules) ByCheck(name string) (Schedule, bool) {
	switch name {
	case beian.CheckFooter:
		return s.Footer, true
	case beian.CheckShell:
		return s.Shell, true
	case beian.CheckDNS:
		return s.DNS, true
	case beian.CheckContact:
		return s.Contact, true
	}
	return Schedule{}, false
}

// Lifecycle drives the violation state machine.
type Lifecycle struct {
	FailureThreshold    int           `yaml:"failure_threshold"`
	SuccessThreshold    int           `yaml:"success_threshold"`
	RectificationPeriod time.Duration `yaml:"rectification_period"`
	RemindEvery         time.Duration `yaml:"remind_every"`
	// RectificationPeriods overrides RectificationPeriod per finding code.
	RectificationPeriods map[string]time.Duration `yaml:"rectification_periods"`
	Storm                Storm                    `yaml:"storm"`
}

// PeriodFor is the rectification period for a finding code.
func (l Lifecycle) PeriodFor(code string) time.Duration {
	if d, ok := l.RectificationPeriods[code]; ok {
		return d
	}
	if rc, ok := beian.LookupCode(code); ok && rc.Period > 0 {
		return rc.Period
	}
	return l.RectificationPeriod
}

// Storm is the storm guard: when at least Share of the sites checked within
// Window (and at least MinSites of them) fail the same check, the cause is
// almost surely on our side and notices are held.
type Storm struct {
	Share    float64       `yaml:"share"`
	MinSites int           `yaml:"min_sites"` // distinct failing sites
	Window   time.Duration `yaml:"window"`
	// Settle is how long a new violation's owner notice waits before it
	// may be sent, so that a storm declared meanwhile holds it; 0 sends at
	// once.
	Settle time.Duration `yaml:"settle"`
}

// Notices configures rendering and delivery of notices.
type Notices struct {
	// Language is zh or en: the first language of a notice (both are shown).
	Language string `yaml:"language"`
	// QuietHours holds deliveries to owners back during the night, in
	// Timezone. Zero value: none.
	QuietHours QuietHours `yaml:"quiet_hours"`
	Timezone   string     `yaml:"timezone"`
	// Location is Timezone loaded.
	Location *time.Location `yaml:"-"`
	// TemplatesDir overrides the built-in templates; "" uses them.
	TemplatesDir string `yaml:"templates_dir"`
	// MaxAttempts bounds delivery retries of one notice.
	MaxAttempts int `yaml:"max_attempts"`
	// RetryFirst is the wait after the first failed attempt; it doubles
	// with each failure up to RetryMax (±20% jitter). A receiver's
	// Retry-After wins when it asks for longer.
	RetryFirst time.Duration `yaml:"retry_first"`
	RetryMax   time.Duration `yaml:"retry_max"`
	// HeldMaxAge: a notice the storm guard held that still cannot be
	// released after this long is dropped, with the reason recorded; a
	// week-old "opened" would mislead more than it helps.
	HeldMaxAge time.Duration `yaml:"held_max_age"`
}

// API configures the HTTP API under /api/v1.
type API struct {
	// TokenEnv names the environment variable holding the bearer token.
	TokenEnv string `yaml:"token_env"`
}

// Log configures the daemon's log.
type Log struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn or error
}

// Checks configures how check work is batched.
type Checks struct {
	// Concurrency is how many sites are checked at once.
	Concurrency int `yaml:"concurrency"`
	// BatchSize is how many sites one check job carries.
	BatchSize int `yaml:"batch_size"`
	// PerIPConcurrency is how many connections may be open at once to one
	// resolved address, whatever Concurrency says: providers put many
	// filed sites on one shared host, and a scan must not hammer it.
	PerIPConcurrency int `yaml:"per_ip_concurrency"`
	// EntityOnlyViolation makes footer_icp_entity_only (outside Guangdong,
	// only the entity number shown) a violation instead of a warning;
	// providers' notices disagree on it.
	EntityOnlyViolation bool `yaml:"entity_only_violation"`
}

// Render configures the headless browser that renders footers static
// HTML cannot show (docs/checks.md).
type Render struct {
	// Enabled is auto (render needs_rendering pages when a browser is
	// installed), always (render every page; debugging) or never.
	Enabled string `yaml:"enabled"`
	// MaxTabs bounds the pages rendered at once.
	MaxTabs int `yaml:"max_tabs"`
	// Timeout is the hard per-page deadline; a page still busy then is
	// inconclusive (render_timeout).
	Timeout time.Duration `yaml:"timeout"`
	// RecycleAfter restarts the browser after this many pages.
	RecycleAfter int `yaml:"recycle_after"`
}

// Retention says how long check results are kept.
type Retention struct {
	// History is how long individual check results are kept.
	History time.Duration `yaml:"history"`
	// Record is how long the runs that opened, changed or resolved a
	// violation are kept: they are the evidence of a site's dossier.
	// Transitions, notices and delivery attempts are never pruned.
	Record time.Duration `yaml:"record"`
}

// Default returns the built-in configuration: SQLite under ./data, listening
// on 127.0.0.1:9470, and no inventory, so that `beianwatch run` starts
// anywhere with no file around it. Paths stay relative to the working
// directory.
func Default() *Config {
	c, err := load(DefaultFileName, nil, "")
	if err != nil {
		// The embedded defaults are part of the program; a test loads them.
		panic("config: built-in defaults are invalid: " + err.Error())
	}
	return c
}

// Load reads a configuration file, overlays it on the built-in defaults and
// validates the result. Problems in the file come back together as Errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return load(path, data, filepath.Dir(path))
}

// Parse is Load for a file already in memory; relative paths set in it are
// resolved against dir ("" leaves them relative to the working directory).
// name is used in error messages.
func Parse(name string, data []byte, dir string) (*Config, error) {
	if data == nil {
		data = []byte{}
	}
	return load(name, data, dir)
}

// load decodes the defaults and then, unless data is nil, the file on top.
func load(name string, data []byte, dir string) (*Config, error) {
	c := &Config{}
	base := newDecoder(DefaultFileName)
	base.decodeBytes(defaultYAML, c)
	if len(base.errs) > 0 {
		return nil, base.errs
	}
	// A fresh decoder for the file: only keys the file sets carry lines,
	// and only those paths are resolved against the file's directory.
	d := newDecoder(name)
	if data != nil {
		c.File = name
		d.decodeBytes(data, c)
	}
	if dir != "" {
		for key, p := range map[string]*string{
			"storage.path":          &c.Storage.Path,
			"inventory.path":        &c.Inventory.Path,
			"notices.templates_dir": &c.Notices.TemplatesDir,
		} {
			if _, set := d.lines[key]; set && *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
		}
	}
	d.validate(c)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return c, nil
}

// SecretRef is one environment variable the configuration refers to.
type SecretRef struct {
	Key string // the key naming it, e.g. "phone_api.token_env"
	Env string // the variable name
}

// SecretRefs lists the environment variables the configuration names, so
// that `beianwatch validate` can say which are unset without printing any
// value.
func (c *Config) SecretRefs() []SecretRef {
	var refs []SecretRef
	add := func(key, env string) {
		if env != "" {
			refs = append(refs, SecretRef{Key: key, Env: env})
		}
	}
	if c.Storage.Driver == DriverPostgres {
		add("storage.dsn_env", c.Storage.DSNEnv)
	}
	add("provider.ops_channel.secret_env", c.Provider.OpsChannel.SecretEnv)
	if c.PhoneAPI.URL != "" {
		add("phone_api.token_env", c.PhoneAPI.TokenEnv)
	}
	add("api.token_env", c.API.TokenEnv)
	return refs
}

// ErrSecretUnset is returned by Secret when the variable is unset or empty.
var ErrSecretUnset = errors.New("environment variable is unset or empty")

// Secret reads the secret held in the environment variable envName. It is
// read at the moment of use, never stored in the Config. The error names the
// variable, never a value.
func (c *Config) Secret(envName string) (string, error) {
	if !ValidEnvName(envName) {
		return "", fmt.Errorf("read secret: %q is not a valid environment variable name", envName)
	}
	v, ok := os.LookupEnv(envName)
	if !ok || strings.TrimSpace(v) == "" {
		return "", fmt.Errorf("read secret from %s: %w", envName, ErrSecretUnset)
	}
	return v, nil
}

// RedactURL shows a URL without what may be a credential: scheme and host
// are kept, user info, path and query are elided (DingTalk, WeCom, Feishu and
// Slack put their tokens in the path or query).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		s += "/…"
	}
	return s
}
