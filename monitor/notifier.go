package monitor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/beianwatch/beianwatch/alerts"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/engine"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// notifier delivers stored notices: it renders them with the alerts
// templates and sends them through the owner's channel (from the
// inventory) or the provider's ops channel (from the config).
type notifier struct {
	cfg      *config.Config
	renderer *alerts.Renderer
	client   *http.Client
	sites    func(domain string) *siteView
	getenv   func(string) string
	now      func() time.Time
	observe  func(channel, kind, result string, d time.Duration)

	// limits paces deliveries per endpoint; nil means the vendors'
	// published limits (defaultEndpointRates) on the notifier's clock.
	limits     *endpointLimits
	limitsOnce sync.Once
}

var (
	_ engine.Notifier = (*notifier)(nil)
	_ engine.Pacer    = (*notifier)(nil)
)

// errSiteMissing: the notice's site is not in the inventory now.
var errSiteMissing = errors.New("not in the inventory (suspended)")

// siteView is what the notifier needs of an inventory site.
type siteView struct {
	ref   alerts.SiteRef
	owner config.Channel
}

// errRetryAfter carries a receiver's Retry-After to the engine.
type errRetryAfter struct {
	after time.Duration
	err   error
}

func (e *errRetryAfter) Error() string { return e.err.Error() }
func (e *errRetryAfter) Unwrap() error { return e.err }

// RetryAfter is how long the receiver asked us to wait, if it did.
func (e *errRetryAfter) RetryAfter() time.Duration { return e.after }

// clock is the injected clock; time.Now when none was given.
func (n *notifier) clock() time.Time {
	if n.now == nil {
		return time.Now()
	}
	return n.now()
}

func (n *notifier) endpoints() *endpointLimits {
	n.limitsOnce.Do(func() {
		if n.limits == nil {
			n.limits = newEndpointLimits(n.now, nil)
		}
	})
	return n.limits
}

// Pace implements engine.Pacer: it takes the notice's slot at its
// endpoint, waiting for it here when it is close and otherwise telling the
// worker how long to put the job back for. It runs before the attempt
// begins, outside any transaction.
func (n *notifier) Pace(ctx context.Context, sn store.Notice) time.Duration {
	_, ch, err := n.build(sn)
	if err != nil {
		return 0 // Deliver reports it
	}
	l := n.endpoints()
	wait := l.reserve(sn.ID, ch.Kind, endpointKey(ch.Kind, ch.URL))
	if wait > l.inline {
		return wait
	}
	sleep(ctx, wait)
	return 0
}

func (n *notifier) Deliver(ctx context.Context, sn store.Notice) (engine.Delivery, error) {
	_, d, err := n.deliver(ctx, sn, nil)
	return d, err
}

// deliver renders and sends sn; decorate, when set, may change the
// rendered notice before it goes (the CLI marks its samples as tests).
func (n *notifier) deliver(ctx context.Context, sn store.Notice, decorate func(*alerts.Rendered)) (alerts.Attempt, engine.Delivery, error) {
	att, d, err := n.send(ctx, sn, decorate)
	if err != nil && att.RetryAfter > 0 {
		// Nothing else goes to that endpoint before it said we may.
		_, ch, berr := n.build(sn)
		if berr == nil {
			n.endpoints().block(ch.Kind, endpointKey(ch.Kind, ch.URL), n.clock().Add(att.RetryAfter))
		}
	}
	return att, d, err
}

func (n *notifier) send(ctx context.Context, sn store.Notice, decorate func(*alerts.Rendered)) (alerts.Attempt, engine.Delivery, error) {
	var none alerts.Attempt
	an, ch, err := n.build(sn)
	if errors.Is(err, errSiteMissing) {
		// Suspended: it may be back in seconds (the daemon holds such
		// notices back; this is the race with a reload).
		return none, engine.Delivery{}, err
	}
	if err != nil {
		return none, engine.Delivery{}, engine.Permanent(err)
	}
	rendered, err := n.renderer.Render(an)
	if err != nil {
		return none, engine.Delivery{Channel: ch.Kind}, engine.Permanent(fmt.Errorf("rendering notice %s: %w", sn.ID, err))
	}
	if decorate != nil {
		decorate(rendered)
	}
	secret := ""
	if ch.SecretEnv != "" {
		secret = n.getenv(ch.SecretEnv)
		if secret == "" && ch.Kind == alerts.ChannelWebhook {
			// An unsigned notice would be refused by any careful receiver;
			// the operator must set the variable (retried, not dead).
			return none, engine.Delivery{Channel: ch.Kind}, fmt.Errorf("signing secret variable %s is not set", ch.SecretEnv)
		}
	}
	channel, err := alerts.NewChannel(ch.Kind, ch.URL, secret, n.client, n.now)
	if err != nil {
		return none, engine.Delivery{Channel: ch.Kind}, engine.Permanent(fmt.Errorf("channel for notice %s: %w", sn.ID, err))
	}
	att, err := channel.Send(ctx, rendered)
	if n.observe != nil {
		n.observe(ch.Kind, string(sn.Kind), string(att.Result), att.Duration)
	}
	d := engine.Delivery{Channel: ch.Kind, StatusCode: att.StatusCode, BodyExcerpt: att.Response,
		Text: rendered.Text, Headers: att.Headers}
	switch {
	case err == nil:
		return att, d, nil
	case att.Result == alerts.Permanent:
		return att, d, engine.Permanent(err)
	case att.RetryAfter > 0:
		return att, d, &errRetryAfter{after: att.RetryAfter, err: err}
	default:
		return att, d, err
	}
}

// build turns a stored notice into an alerts notice and picks its channel.
func (n *notifier) build(sn store.Notice) (*alerts.Notice, config.Channel, error) {
	lang := n.cfg.Notices.Language
	ops := n.cfg.Provider.OpsChannel
	if sn.Payload.Storm != nil {
		s := sn.Payload.Storm
		an := alerts.NewStormNotice(n.cfg.Provider.Name, alerts.StormSummary{
			Check: s.Check, Failing: s.Failed, Total: s.Checked, Since: s.Since,
			Inconclusive: s.Inconclusive, Ended: s.Ended,
		}, sn.ID, lang, sn.CreatedAt)
		an.ID = sn.ID
		if ops.IsZero() {
			return nil, ops, errors.New("storm notice: no ops channel configured")
		}
		return an, ops, nil
	}
	site := n.sites(sn.Domain)
	if site == nil {
		return nil, config.Channel{}, fmt.Errorf("notice %s: site %s: %w", sn.ID, sn.Domain, errSiteMissing)
	}
	changes := make([]alerts.ViolationChange, 0, len(sn.Payload.Transitions))
	for _, t := range sn.Payload.Transitions {
		vc := alerts.ViolationChange{
			Code: t.Code, Transition: string(t.Kind), Severity: "violation",
			Evidence: t.Evidence, Message: t.Message, OpenedAt: t.OpenedAt, Deadline: t.Deadline,
		}
		if t.Kind == lifecycle.KindResolved {
			at := t.At
			vc.ResolvedAt = &at
		}
		changes = append(changes, vc)
	}
	var an *alerts.Notice
	var ch config.Channel
	if sn.Kind == store.NoticeOps {
		an = alerts.NewEscalationNotice(n.cfg.Provider.Name, site.ref, sn.ID, changes, lang, sn.CreatedAt)
		ch = ops
	} else {
		an = alerts.NewOwnerNotice(site.ref, sn.ID, changes, lang, sn.CreatedAt)
		an.Provider = n.cfg.Provider.Name
		ch = site.owner
		if ch.IsZero() {
			// No owner channel on file: the provider hears instead, so
			// that nobody goes untold.
			ch = ops
		}
	}
	an.ID = sn.ID
	if tz := n.cfg.Notices.Timezone; tz != "" {
		an.TimeZone = tz
	}
	if ch.IsZero() {
		return nil, ch, fmt.Errorf("notice %s for %s: no owner channel and no ops channel configured", sn.ID, sn.Domain)
	}
	return an, ch, nil
}
