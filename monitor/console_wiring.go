package monitor

import (
	"context"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/console"
	"github.com/beianwatch/beianwatch/monitor/dossier"
	"github.com/beianwatch/beianwatch/monitor/inventory"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// consoleSite is an inventory site as the console shows it.
func consoleSite(s *inventory.Site) console.Site {
	cs := console.Site{Domain: s.Domain, Entity: dossier.Mask(s.Entity), Status: string(s.Status), OwnerChannel: s.Owner.Kind, Line: s.Line}
	if s.ICP != nil {
		cs.ICP = s.ICP.String()
	}
	if s.PSB != nil {
		cs.PSB = s.PSB.String()
	}
	for _, t := range s.Tags {
		cs.Tags = append(cs.Tags, console.Tag{Key: dossier.Mask(t.Key), Value: dossier.Mask(t.Value)})
	}
	for _, c := range s.Contacts {
		cs.Contacts = append(cs.Contacts, c.Role+": "+checks.MaskPhone(c.Phone))
	}
	return cs
}

// newConsole builds the console on the daemon's store, inventory, engine
// and exemption service.
func (d *Daemon) newConsole(screenshots console.Screenshots) (*console.Console, error) {
	x := d.Exemptions()
	return console.New(console.Options{
		Token: d.apiToken,
		Store: d.store,
		Sites: func() []console.Site {
			inv := d.watcher.Current()
			out := make([]console.Site, 0, inv.Len())
			for _, s := range inv.Sites {
				out = append(out, consoleSite(s))
			}
			return out
		},
		Site: func(domain string) (console.Site, bool) {
			s := d.site(domain)
			if s == nil {
				return console.Site{}, false
			}
			return consoleSite(s), true
		},
		Check: d.checkNow,
		AddExemption: func(ctx context.Context, f console.ExemptionForm) (store.Exemption, []lifecycle.Transition, error) {
			return x.Add(ctx, ExemptionRequest{Site: f.Site, Code: f.Code, Check: f.Check, Until: f.Until, Reason: f.Reason, By: f.By})
		},
		RemoveExemption: x.Remove,
		Dossier:         d.Dossier,
		Screenshots:     screenshots,
		SessionTTL:      d.opts.SessionTTL,
		Now:             d.now,
		Logger:          d.log,
	})
}

// checkNow queues every check that applies to domain, now.
func (d *Daemon) checkNow(ctx context.Context, domain string) ([]string, error) {
	s := d.site(domain)
	if s == nil {
		return nil, store.ErrNotFound
	}
	var queued []string
	for _, name := range checks.AllChecks {
		if !d.applicant.applies(name, &s.Site) {
			continue
		}
		if _, err := d.engine.Trigger(ctx, name, []string{domain}); err != nil {
			return queued, err
		}
		queued = append(queued, name)
	}
	return queued, nil
}
