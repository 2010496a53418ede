package monitor

import (
	"context"
	"database/sql"
	"slices"
	"sync"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/entity"
	"github.com/beianwatch/beianwatch/monitor/inventory"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// entityIndex groups an inventory's sites by entity (entity.Key), built
// once per inventory: a shell batch must not walk 100,000 sites.
type entityIndex struct {
	mu  sync.Mutex
	inv *inventory.Inventory
	by  map[string][]*inventory.Site
}

func (x *entityIndex) of(inv *inventory.Inventory) map[string][]*inventory.Site {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.inv != inv || x.by == nil {
		x.by = map[string][]*inventory.Site{}
		for _, s := range inv.Sites {
			if k := entity.Key(s.ICP, s.Entity); k != "" {
				x.by[k] = append(x.by[k], s)
			}
		}
		x.inv = inv
	}
	return x.by
}

// entityJudge judges entities for the engine's Derive hook: the daemon's,
// and an `audit --record`'s, so both judge alike.
type entityJudge struct {
	st *store.Store
	// current is the inventory in effect; nil judges nothing.
	current func() *inventory.Inventory
	idx     entityIndex
}

// deriveEntities judges, in the recording transaction, the entities whose
// sites a batch's shell results concern, and returns their results: a
// failing entity_empty_shell result on the site that holds (or is to hold)
// the entity's violation, a pass or an inconclusive result where one is
// held already. Entities with nothing held and nothing found produce
// nothing, so the results table does not fill with entities.
func (d *entityJudge) deriveEntities(ctx context.Context, tx *sql.Tx, results []store.SiteResult) ([]store.SiteResult, error) {
	inv := d.current()
	if inv == nil {
		return nil, nil
	}
	var keys []string
	for _, r := range results {
		if r.Result.Check != checks.CheckShell {
			continue
		}
		s := inv.Lookup(r.Domain)
		if s == nil {
			continue
		}
		if k := entity.Key(s.ICP, s.Entity); k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	slices.Sort(keys)
	idx := d.idx.of(inv)
	held, err := d.st.TrackedDomainsTx(ctx, tx, entity.CodeEmptyShell)
	if err != nil {
		return nil, err
	}
	var out []store.SiteResult
	for _, k := range keys {
		sites := idx[k]
		holder := ""
		for _, s := range sites {
			if held[s.Domain] {
				holder = s.Domain
				break
			}
		}
		v, err := d.judgeEntity(ctx, tx, k, sites)
		if err != nil {
			return nil, err
		}
		site := holder
		if site == "" {
			if v.Outcome != entity.EmptyShell {
				continue // nothing held, nothing found: nothing to record
			}
			site = v.Site
		}
		out = append(out, store.SiteResult{Domain: site, Result: v.Result()})
	}
	return out, nil
}

// judgeEntity judges one entity, asking the store as little as it can: a
// site under a filing procedure, or the first live site, settles it (an
// entity with 500 sites and a live one costs a query or two, not 2,500).
func (d *entityJudge) judgeEntity(ctx context.Context, tx *sql.Tx, key string, sites []*inventory.Site) (entity.Verdict, error) {
	alive := entity.Verdict{Key: key, Outcome: entity.Alive}
	for _, s := range sites {
		if s.Status != checks.StatusFiled && s.Status != checks.StatusCancelled {
			return alive, nil
		}
	}
	var es []entity.Site
	for _, s := range sites {
		e := entity.Site{Domain: s.Domain, ICP: s.ICP, Entity: s.Entity, Status: s.Status}
		if s.Status == checks.StatusFiled {
			var err error
			if e.Shell, e.Codes, err = d.shellState(ctx, tx, s.Domain); err != nil {
				return entity.Verdict{}, err
			}
			if e.Shell == entity.Live {
				return alive, nil
			}
		}
		es = append(es, e)
	}
	vs := entity.Evaluate(es)
	if len(vs) != 1 {
		return alive, nil // cannot happen: the sites share the key
	}
	return vs[0], nil
}

// shellState is what the store has established about a site's shell
// check: confirmed when a shell violation is open (or escalated) and the
// latest run still fails; unknown when it was never checked or the latest
// run could not tell; live otherwise.
func (d *entityJudge) shellState(ctx context.Context, tx *sql.Tx, domain string) (entity.Shell, []string, error) {
	latest, ok, err := d.st.LatestResultTx(ctx, tx, domain, checks.CheckShell)
	if err != nil {
		return entity.Unknown, nil, err
	}
	if !ok || latest.Result.Outcome == checks.Inconclusive {
		return entity.Unknown, nil, nil
	}
	if latest.Result.Outcome != checks.Fail {
		return entity.Live, nil, nil
	}
	var codes []string
	for _, code := range entity.ShellCodes {
		st, ok, err := d.st.ViolationTx(ctx, tx, domain, code)
		if err != nil {
			return entity.Unknown, nil, err
		}
		if ok && (st.Status == lifecycle.StatusOpen || st.Status == lifecycle.StatusEscalated) {
			codes = append(codes, code)
		}
	}
	if len(codes) == 0 {
		return entity.Live, nil, nil // failing, but not confirmed yet
	}
	return entity.Confirmed, codes, nil
}
