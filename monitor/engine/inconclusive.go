package engine

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// inconclusiveChangedTx acts on an edge of the inconclusive guard: when at
// least the storm share of a check's runs (on at least min_sites sites)
// are inconclusive, our own resolver or network is failing. Owners are
// spared by the rule that inconclusive never opens a violation, but ops
// must hear of it: one notice when it starts and one when it ends. The
// edge is kept in storm_state (under store.InconclusivePrefix) so that a
// restart, or another process recording into the store, does not announce
// it twice.
func (e *Engine) inconclusiveChangedTx(ctx context.Context, tx *sql.Tx, now time.Time, st lifecycle.StormStatus) (*store.Notice, error) {
	key := store.InconclusivePrefix + st.Check
	was, since, _, err := e.st.StormStateTx(ctx, tx, key)
	if err != nil {
		return nil, err
	}
	info := &store.StormInfo{Check: st.Check, Checked: st.Checked, Failed: st.Failed, Since: now, Inconclusive: true}
	switch {
	case st.Started:
		if was && since.After(now.Add(-e.cfg.Storm.Window)) {
			return nil, nil // announced already (by another process)
		}
		e.log.Warn("most checks are inconclusive: our resolver or network is failing", "check", st.Check,
			"inconclusive", st.Failed, "runs", st.Checked, "sites", st.Sites)
	case st.Ended:
		if !was {
			return nil, nil // its end was announced already
		}
		info.Since, info.Ended = since, now
		e.log.Info("checks are conclusive again", "check", st.Check)
	default:
		return nil, nil
	}
	if err := e.st.SetStormingTx(ctx, tx, key, st.Started, now); err != nil {
		return nil, err
	}
	n, err := e.st.CreateNoticeTx(ctx, tx, now, "", store.NoticeOps, store.NoticePayload{Storm: info}, store.NoticeQueued)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// settleInconclusive looks at the inconclusive storms in progress without
// new runs: the guard's window slides on its own, and a check whose runs
// stopped (or are all not_applicable) must still end its storm, once.
func (e *Engine) settleInconclusive(ctx context.Context, now time.Time) error {
	var edges []lifecycle.StormStatus
	for _, check := range e.inconc.Storming() {
		if st := e.inconc.Status(now, check); st.Ended {
			edges = append(edges, st)
		}
	}
	if len(edges) == 0 {
		return nil
	}
	err := e.st.InTx(ctx, func(tx *sql.Tx) error {
		var ids []string
		for _, st := range edges {
			n, err := e.inconclusiveChangedTx(ctx, tx, now, st)
			if err != nil {
				return err
			}
			if n != nil {
				ids = append(ids, n.ID)
			}
		}
		return e.insertNotify(ctx, tx, ids)
	})
	if err != nil {
		for _, st := range edges {
			e.inconc.Rearm(st)
		}
		return fmt.Errorf("end inconclusive storms: %w", err)
	}
	return nil
}

// InconclusiveStorm is the inconclusive guard (for metrics and tests).
func (e *Engine) InconclusiveStorm() *lifecycle.StormGuard { return e.inconc }
