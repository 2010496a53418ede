package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/dossier"
	"github.com/beianwatch/beianwatch/monitor/inventory"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// dossierSite is the filing of s as a dossier shows it: masked, with the
// owner channel's kind and never its URL.
func dossierSite(s *inventory.Site) dossier.Site {
	ds := dossier.Site{Domain: s.Domain, Entity: s.Entity, Status: string(s.Status), OwnerChannel: s.Owner.Kind}
	if s.ICP != nil {
		ds.ICP = s.ICP.String()
	}
	if s.PSB != nil {
		ds.PSB = s.PSB.String()
	}
	var tags []string
	for _, t := range s.Tags {
		tags = append(tags, t.Key+"="+t.Value)
	}
	ds.Tags = strings.Join(tags, ", ")
	return ds
}

// Dossier builds the record of domain between from and to (zero:
// unbounded) from the daemon's store.
func (d *Daemon) Dossier(ctx context.Context, domain string, from, to time.Time) (*dossier.Data, error) {
	s := d.site(domain)
	if s == nil {
		return nil, fmt.Errorf("%w: site %s is not in the inventory", store.ErrNotFound, domain)
	}
	return dossier.Build(ctx, d.store, dossierSite(s), from, to)
}

// BuildDossier opens cfg's store and inventory and builds domain's record,
// for `beianwatch dossier`. Safe while the daemon runs (it only reads).
func BuildDossier(ctx context.Context, cfg *config.Config, logger *slog.Logger, domain string, from, to time.Time) (*dossier.Data, error) {
	if cfg.Inventory.Path == "" {
		return nil, fmt.Errorf("the configuration names no inventory (inventory.path): the dossier needs the site's filing")
	}
	inv, _, err := inventory.Load(cfg.Inventory.Path)
	if err != nil {
		return nil, fmt.Errorf("loading the inventory: %w", err)
	}
	s := inv.Lookup(domain)
	if s == nil {
		return nil, fmt.Errorf("site %s is not in the inventory %s", domain, cfg.Inventory.Path)
	}
	st, err := store.Open(ctx, cfg.Storage.Path, store.WithLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	defer st.Close()
	return dossier.Build(ctx, st, dossierSite(s), from, to)
}
