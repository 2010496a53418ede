package monitor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/beianwatch/beianwatch/alerts"
	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/inventory"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// SampleOptions configures SendSampleNotice.
type SampleOptions struct {
	// Domain is the inventory site whose owner channel is tried; with Ops
	// it only names the site in the text and may be empty.
	Domain string
	// Ops sends through the provider's ops channel instead.
	Ops bool
	// Getenv reads the signing secret; nil means no variables are set.
	Getenv func(string) string
	// Now is the clock for the notice's dates; nil means time.Now.
	Now func() time.Time
	// Client, when set, replaces the SSRF-safe client built from cfg
	// (tests); production callers leave it nil.
	Client *http.Client
}

// SampleDelivery is what SendSampleNotice did.
type SampleDelivery struct {
	NoticeID string
	// Audience is "owner of DOMAIN" or "ops".
	Audience string
	Attempt  alerts.Attempt
	// Err is why the sample was not delivered (nil when it was); it holds
	// no secret.
	Err error
}

// SampleMarker starts the title and body of every sample notice, so that
// nobody mistakes one for a real rectification notice.
const SampleMarker = "【测试 TEST】"

// SendSampleNotice sends one sample notice, plainly marked as a test
// (code footer_link_obsolete, transition opened; escalated for ops),
// through the daemon's own notifier and SSRF-safe client, so that an
// operator can see a site's channel work. The returned error means the
// sample could not be attempted at all (configuration, inventory, missing
// site or channel); a failed attempt is reported in SampleDelivery.Err.
func SendSampleNotice(ctx context.Context, cfg *config.Config, opts SampleOptions) (*SampleDelivery, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	renderer, err := alerts.NewRenderer(alerts.RendererOptions{
		OverrideDir: cfg.Notices.TemplatesDir, Language: cfg.Notices.Language, TimeZone: cfg.Notices.Timezone,
	})
	if err != nil {
		return nil, fmt.Errorf("loading notice templates: %w", err)
	}
	var site *siteView
	if opts.Domain != "" {
		inv, _, err := inventory.Load(cfg.Inventory.Path)
		if err != nil {
			return nil, fmt.Errorf("loading the inventory: %w", err)
		}
		s := inv.Lookup(opts.Domain)
		if s == nil {
			return nil, fmt.Errorf("site %s is not in the inventory %s (or its record was rejected; run validate)", opts.Domain, cfg.Inventory.Path)
		}
		site = viewOf(s)
	} else if !opts.Ops {
		return nil, errors.New("a site is required to try its owner channel")
	}
	ch := cfg.Provider.OpsChannel
	audience := "ops"
	if !opts.Ops {
		ch = site.owner
		audience = "owner of " + site.ref.Domain
		if ch.IsZero() {
			return nil, fmt.Errorf("site %s has no owner channel in the inventory (its notices go to the ops channel; try --ops)", site.ref.Domain)
		}
	} else if ch.IsZero() {
		return nil, errors.New("no ops channel configured (provider.ops_channel)")
	}
	if site == nil {
		site = &siteView{ref: alerts.SiteRef{Domain: "example.cn", ICP: "京ICP备00000000号-1", Entity: "示例 Example"}}
	}
	// The egress client is built exactly as for the daemon; the phone API
	// plays no part here, so its token is not required.
	client := opts.Client
	if client == nil {
		c := *cfg
		c.PhoneAPI.URL = ""
		c.Render.Enabled = "never"
		built, err := NewCheckers(&c, CheckerOptions{Getenv: getenv, Clock: now})
		if err != nil {
			return nil, err
		}
		client = built.Client
	}
	nt := &notifier{
		cfg: cfg, renderer: renderer, client: client, getenv: getenv, now: now,
		sites: func(string) *siteView { return site },
	}
	sn, err := sampleNotice(now(), site.ref.Domain, opts.Ops, cfg.Lifecycle.PeriodFor(checks.CodeFooterLinkObsolete))
	if err != nil {
		return nil, err
	}
	// The secret is checked here so that a missing variable is reported
	// as the configuration problem it is, not as a failed delivery.
	if ch.SecretEnv != "" && getenv(ch.SecretEnv) == "" && ch.Kind == alerts.ChannelWebhook {
		return nil, fmt.Errorf("the signing secret variable %s is not set", ch.SecretEnv)
	}
	if _, err := alerts.NewChannel(ch.Kind, ch.URL, secretOf(ch, getenv), client, now); err != nil {
		return nil, err
	}
	att, _, derr := nt.deliver(ctx, sn, markSample)
	return &SampleDelivery{NoticeID: sn.ID, Audience: audience, Attempt: att, Err: derr}, nil
}

func secretOf(ch config.Channel, getenv func(string) string) string {
	if ch.SecretEnv == "" {
		return ""
	}
	return getenv(ch.SecretEnv)
}

func sampleNotice(now time.Time, domain string, ops bool, period time.Duration) (store.Notice, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return store.Notice{}, fmt.Errorf("sample notice id: %w", err)
	}
	if period <= 0 {
		period = 240 * time.Hour
	}
	t := lifecycle.Transition{
		Domain: domain, Code: checks.CodeFooterLinkObsolete, Kind: lifecycle.KindOpened,
		From: lifecycle.StatusPending, To: lifecycle.StatusOpen, At: now,
		Message:  "测试通知，网站无需处理 / test notice: nothing is wrong with this site",
		Evidence: SampleMarker + ` <a href="http://www.miitbeian.gov.cn/">京ICP备00000000号-1</a> (sample evidence)`,
		OpenedAt: now, Deadline: now.Add(period),
	}
	kind := store.NoticeOwner
	if ops {
		kind = store.NoticeOps
		t.Kind, t.From, t.To, t.Ops = lifecycle.KindEscalated, lifecycle.StatusOpen, lifecycle.StatusEscalated, true
		// An escalation says the deadline has passed: its sample shows
		// one that has (a day ago), not a future date beside "overdue".
		t.Deadline = now.Add(-24 * time.Hour)
		t.OpenedAt = t.Deadline.Add(-period)
	}
	// Test ids say so, and never collide with the daemon's ntc_ ids.
	return store.Notice{
		ID: "ntc_test_" + hex.EncodeToString(b[:]), Domain: domain, Kind: kind, State: store.NoticeSending,
		Payload:   store.NoticePayload{Domain: domain, Transitions: []lifecycle.Transition{t}},
		CreatedAt: now.UTC(), Attempts: 1,
	}, nil
}

// markSample puts the test marker in front of everything a person reads.
func markSample(r *alerts.Rendered) {
	const banner = "这是一条测试通知，用于确认通知渠道可用；网站无需任何处理。\nThis is a test notice to confirm the channel works; nothing needs to be done.\n\n"
	r.Title = SampleMarker + r.Title
	r.Text = SampleMarker + "\n" + banner + r.Text
	r.Markdown = "**" + SampleMarker + "**\n\n" + banner + r.Markdown
}

// viewOf is what the notifier needs of an inventory site.
func viewOf(s *inventory.Site) *siteView {
	v := &siteView{ref: alerts.SiteRef{Domain: s.Domain, Entity: s.Entity}, owner: s.Owner}
	if s.ICP != nil {
		v.ref.ICP = s.ICP.String()
	}
	if s.PSB != nil {
		v.ref.PSB = s.PSB.String()
	}
	return v
}
