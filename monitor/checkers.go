// Package monitor is the beianwatch daemon: it wires configuration,
// inventory, the store and River engine, the checks and the notices
// together, and serves the HTTP API and metrics. The one-shot commands
// (check, audit) build their checks here too, so that there is one
// implementation of every check.
package monitor

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/time/rate"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/checks/render"
	"github.com/beianwatch/beianwatch/egress"
	"github.com/beianwatch/beianwatch/monitor/config"
)

// CheckerOptions are what building the checks needs beyond the config.
type CheckerOptions struct {
	// Getenv reads secrets (the phone API token); nil means os.Getenv.
	Getenv func(string) string
	// PhoneCache caches number statuses; nil means in memory.
	PhoneCache checks.PhoneCache
	// Clock is injected for tests; nil means time.Now.
	Clock func() time.Time
	// Logger receives debug lines; nil discards them.
	Logger *slog.Logger
	// RevealContacts puts whole phone numbers in the contact check's
	// evidence (the CLI's --reveal-contacts); everything else stays masked.
	RevealContacts bool
	// ResolvConf is where the system's resolvers are read when the config
	// names none; empty means /etc/resolv.conf.
	ResolvConf string
	// RenderObserver hears the renderer's pages and restarts (metrics);
	// nil means none.
	RenderObserver render.Observer
}

// Checkers are the four checks built from one configuration, sharing one
// resolver, one fetcher and one HTTP client.
type Checkers struct {
	Resolver *checks.Resolver
	Fetcher  *checks.Fetcher
	// Limiter bounds the fetcher's connections per server address
	// (checks.per_ip_concurrency); webhooks and APIs are not limited.
	Limiter *egress.ConnLimiter
	// Client is the SSRF-safe client for APIs and webhooks.
	Client *http.Client
	ByName map[string]checks.Checker
	// Renderer is the headless browser of the footer check; nil when
	// rendering is off or no browser is installed. Close stops it.
	Renderer *render.Renderer
	// Warnings are configuration problems that degrade a check without
	// stopping the others; callers show them to the operator.
	Warnings []string
}

// NewCheckers builds the checks for cfg.
func NewCheckers(cfg *config.Config, opts CheckerOptions) (*Checkers, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	servers := cfg.DNS.Resolvers
	if len(servers) == 0 {
		var err error
		if servers, err = systemResolvers(opts.ResolvConf); err != nil {
			return nil, err
		}
	}
	res, err := checks.NewResolver(checks.ResolverConfig{
		Servers:             servers,
		Authoritative:       cfg.DNS.Authoritative,
		AuthoritativePolicy: egress.Policy{AllowPrivate: cfg.AllowPrivate},
		Timeout:             cfg.DNS.Timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("building the DNS resolver: %w", err)
	}
	policy := egress.Policy{AllowPrivate: cfg.AllowPrivate}
	var limiter *egress.ConnLimiter
	if cfg.Checks.PerIPConcurrency > 0 {
		limiter = egress.NewConnLimiter(cfg.Checks.PerIPConcurrency)
	}
	// Fetches resolve through the same servers as the checks, so the shell
	// check's addresses are the ones the page is fetched from.
	fetcher := checks.NewFetcher(checks.FetcherConfig{
		Timeout:      cfg.HTTP.Timeout,
		MaxBody:      int64(cfg.HTTP.MaxBody),
		MaxRedirects: cfg.HTTP.MaxRedirects,
		Policy:       policy,
		Resolver:     res,
		UserAgent:    cfg.HTTP.UserAgent,
		Limiter:      limiter,
	})
	httpTimeout := cfg.HTTP.Timeout
	if httpTimeout <= 0 {
		httpTimeout = checks.DefaultFetchTimeout
	}
	client := egress.NewClientRedirects(policy, res, httpTimeout, cfg.HTTP.MaxRedirects)

	contact := checks.NewContactCheck(nil)
	contact.Reveal = opts.RevealContacts
	contact.Logger = opts.Logger
	var warnings []string
	token := ""
	if cfg.PhoneAPI.URL != "" {
		if token = getenv(cfg.PhoneAPI.TokenEnv); token == "" {
			// The other checks are still worth running: contact numbers
			// are then checked for format only, and results say so.
			warnings = append(warnings, fmt.Sprintf(
				"phone_api.url is set but the token variable %s is empty: contact reachability is not checked", cfg.PhoneAPI.TokenEnv))
		}
	}
	if token != "" {
		perSecond := cfg.PhoneAPI.RatePerSecond
		if perSecond <= 0 {
			perSecond = 5
		}
		cache := opts.PhoneCache
		if cache == nil {
			cache = checks.NewMemoryPhoneCache(clock)
		}
		var popts []checks.PhoneStatusOption
		if cfg.PhoneAPI.CacheTTLOK > 0 || cfg.PhoneAPI.CacheTTLBad > 0 {
			popts = append(popts, checks.WithPhoneCacheTTL(cfg.PhoneAPI.CacheTTLOK, cfg.PhoneAPI.CacheTTLBad))
		}
		if opts.Logger != nil {
			popts = append(popts, checks.WithPhoneLogger(opts.Logger))
		}
		st, err := checks.NewPhoneStatusClient(cfg.PhoneAPI.URL, token, phoneClient(cfg, res, httpTimeout),
			rate.NewLimiter(rate.Limit(perSecond), 1), cache, clock, popts...)
		if err != nil {
			return nil, fmt.Errorf("building the number-status client: %w", err)
		}
		contact.Status = st
	}

	footer := checks.NewFooterCheck(fetcher, checks.FooterOptions{EntityOnlyIsViolation: cfg.Checks.EntityOnlyViolation})
	mode, err := checks.ParseRenderMode(cfg.Render.Enabled)
	if err != nil {
		return nil, fmt.Errorf("render.enabled: %w", err)
	}
	footer.RenderMode = mode
	var renderer *render.Renderer
	if mode != checks.RenderNever {
		// The browser's every connection goes through the same policy,
		// resolver and per-address limit as the fetcher's.
		dial := egress.NewDialer(policy, res, 0).WithConnLimiter(limiter)
		renderer, err = render.New(render.Options{
			// The same browser override as the dossier's PDF printing.
			ExecPath: getenv("BEIANWATCH_CHROMIUM"),
			MaxTabs:  cfg.Render.MaxTabs, Timeout: cfg.Render.Timeout, RecycleAfter: cfg.Render.RecycleAfter,
			// Real time, not the injected clock: deadlines and settling are
			// about the browser, which lives in real time.
			Dial: dial.DialContext, Observer: opts.RenderObserver, Logger: opts.Logger,
		})
		switch {
		case errors.Is(err, checks.ErrNoBrowser):
			if mode == checks.RenderAlways {
				warnings = append(warnings, "render.enabled is always but no Chromium is installed: footers that need a browser stay inconclusive")
			}
			renderer = nil
		case err != nil:
			return nil, fmt.Errorf("building the renderer: %w", err)
		default:
			footer.Render = renderer
		}
	}

	byName := map[string]checks.Checker{
		checks.CheckFooter:  footer,
		checks.CheckShell:   checks.NewShellCheck(res, fetcher, cfg.Provider.Ranges),
		checks.CheckDNS:     checks.NewDNSCheck(res),
		checks.CheckContact: contact,
	}
	return &Checkers{Resolver: res, Fetcher: fetcher, Limiter: limiter, Client: client, ByName: byName, Renderer: renderer, Warnings: warnings}, nil
}

// Close stops the browser, if one was started; the checks must not be
// used after it.
func (c *Checkers) Close() error {
	if c == nil || c.Renderer == nil {
		return nil
	}
	return c.Renderer.Close()
}

// phoneClient is the client for the number-status provider. Its address
// comes from the operator's configuration, not from a crawled page or a
// customer's inventory row, so a provider adapter on this machine
// (http://127.0.0.1:PORT, the usual way to put a vendor SDK behind the
// generic contract) is allowed; everything else stays behind the
// SSRF policy.
func phoneClient(cfg *config.Config, res egress.HostResolver, timeout time.Duration) *http.Client {
	policy := egress.Policy{AllowPrivate: cfg.AllowPrivate}
	if u, err := url.Parse(cfg.PhoneAPI.URL); err == nil {
		h := u.Hostname()
		if ip, err := netip.ParseAddr(h); (err == nil && ip.IsLoopback()) || h == "localhost" {
			policy.AllowPrivate = true
		}
	}
	return egress.NewClientRedirects(policy, res, timeout, cfg.HTTP.MaxRedirects)
}

// systemResolvers reads the machine's resolvers, for runs without a
// configured resolver list.
func systemResolvers(path string) ([]string, error) {
	if path == "" {
		path = "/etc/resolv.conf"
	}
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("no resolvers configured and %s is unreadable: %w", path, err)
	}
	if len(cc.Servers) == 0 {
		return nil, fmt.Errorf("no resolvers configured and none in %s", path)
	}
	out := make([]string, 0, len(cc.Servers))
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out, nil
}
