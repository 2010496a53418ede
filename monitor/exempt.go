package monitor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/inventory"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// ExemptionRequest is an exemption as an operator asks for it (CLI, API,
// console).
type ExemptionRequest struct {
	Site   string `json:"site"`
	Code   string `json:"code,omitempty"`
	Check  string `json:"check,omitempty"`
	Until  string `json:"until"` // 2027-01-31 or RFC 3339
	Reason string `json:"reason"`
	By     string `json:"by"`
}

// ParseUntil reads an exemption's end: RFC 3339, or a date, which means
// through that whole day in loc (the exemption ends at the next midnight
// there), since that is what "until 31 January" means to the person who
// wrote it.
func ParseUntil(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("%w: the end date is required (2027-01-31 or RFC 3339)", store.ErrInvalid)
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if loc == nil {
		loc = shanghai
	}
	d, err := time.ParseInLocation("2006-01-02", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: end date %q: want a date like 2027-01-31 or an RFC 3339 time like 2027-01-31T18:00:00+08:00", store.ErrInvalid, s)
	}
	return d.AddDate(0, 0, 1).UTC(), nil
}

var shanghai = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return l
	}
	return time.FixedZone("CST", 8*3600)
}()

// Exemptions adds, removes and lists exemptions on a store, for the CLI,
// the API and the console alike.
type Exemptions struct {
	st        *store.Store
	lifecycle lifecycle.Config
	loc       *time.Location
	now       func() time.Time
	// known reports whether the inventory has the site; an exemption for a
	// site we do not watch is a typo, refused.
	known func(domain string) bool
}

// Add validates req and records the exemption, closing the covered open
// violations as exempted without telling the owner.
func (x *Exemptions) Add(ctx context.Context, req ExemptionRequest) (store.Exemption, []lifecycle.Transition, error) {
	var errs []error
	domain, err := checks.NormalizeDomain(req.Site)
	if err != nil {
		errs = append(errs, fmt.Errorf("site: %w", err))
	} else if x.known != nil && !x.known(domain) {
		errs = append(errs, fmt.Errorf("site %s is not in the inventory", domain))
	}
	if req.Code != "" && req.Check != "" {
		errs = append(errs, errors.New("name a code or a check, not both"))
	}
	until, err := ParseUntil(req.Until, x.loc)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		if !errors.Is(err, store.ErrInvalid) {
			err = fmt.Errorf("%w: %w", store.ErrInvalid, err)
		}
		return store.Exemption{}, nil, err
	}
	e := store.Exemption{Domain: domain, Check: req.Check, Code: req.Code, Until: until,
		Reason: strings.TrimSpace(req.Reason), CreatedBy: strings.TrimSpace(req.By)}
	return x.st.AddExemption(ctx, x.now(), x.lifecycle, e)
}

// Remove ends exemption id now.
func (x *Exemptions) Remove(ctx context.Context, id int64, by, reason string) (store.Exemption, error) {
	return x.st.RemoveExemption(ctx, x.now(), id, strings.TrimSpace(by), strings.TrimSpace(reason))
}

// List lists exemptions of domain ("" = all); activeOnly keeps those in
// force now.
func (x *Exemptions) List(ctx context.Context, domain string, activeOnly bool) ([]store.Exemption, error) {
	f := store.ExemptionFilter{Domain: domain}
	if activeOnly {
		f.Active = x.now()
	}
	return x.st.Exemptions(ctx, f)
}

// Now is the service's clock.
func (x *Exemptions) Now() time.Time { return x.now() }

// Exemptions is the daemon's exemption service.
func (d *Daemon) Exemptions() *Exemptions {
	return &Exemptions{st: d.store, lifecycle: lifecycleConfig(d.cfg), loc: d.cfg.Notices.Location, now: d.now,
		known: func(domain string) bool { return d.site(domain) != nil }}
}

// OpenExemptions opens cfg's store (and reads its inventory, to refuse
// sites it does not list) for `beianwatch exempt`. It is safe while the
// daemon runs: each change is one short transaction.
func OpenExemptions(ctx context.Context, cfg *config.Config, logger *slog.Logger, now func() time.Time) (*Exemptions, func() error, error) {
	if now == nil {
		now = time.Now
	}
	var known func(string) bool
	if cfg.Inventory.Path != "" {
		inv, _, err := inventory.Load(cfg.Inventory.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("loading the inventory: %w", err)
		}
		known = func(domain string) bool { return inv.Lookup(domain) != nil }
	}
	st, err := store.Open(ctx, cfg.Storage.Path, store.WithLogger(logger))
	if err != nil {
		return nil, nil, fmt.Errorf("opening the store: %w", err)
	}
	x := &Exemptions{st: st, lifecycle: lifecycleConfig(cfg), loc: cfg.Notices.Location, now: now, known: known}
	return x, st.Close, nil
}

// ActiveExemptions reads the exemptions in force now from cfg's store, by
// domain, for reports made outside the daemon (`beianwatch audit`). A store
// that does not exist yet has none, and is not created.
func ActiveExemptions(ctx context.Context, cfg *config.Config, logger *slog.Logger, now time.Time) (map[string][]store.Exemption, error) {
	if cfg.Storage.Path == "" {
		return nil, nil
	}
	if _, err := os.Stat(cfg.Storage.Path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	st, err := store.Open(ctx, cfg.Storage.Path, store.WithLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("opening the store to read exemptions: %w", err)
	}
	defer st.Close()
	es, err := st.Exemptions(ctx, store.ExemptionFilter{Active: now})
	if err != nil {
		return nil, err
	}
	out := map[string][]store.Exemption{}
	for _, e := range es {
		out[e.Domain] = append(out[e.Domain], e)
	}
	return out, nil
}
