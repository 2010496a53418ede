package monitor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/entity"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// TestEmptyShellEntityLifecycle: an entity whose two sites are both
// confirmed shells gets an entity_empty_shell violation of its own, on
// one of its sites, with an owner notice and an ops summary; an
// inconclusive site keeps it unjudged; fixing one site resolves it.
func TestEmptyShellEntityLifecycle(t *testing.T) {
	const a, b, other = "a.shell.example.cn", "b.shell.example.cn", "live.example.cn"
	h := newHarness(t, []fixtureSite{
		{Domain: a, ICP: "京ICP备2024000777号-1"},
		{Domain: b, ICP: "京ICP备2024000777号-2"},
		{Domain: other}, // another entity, live
	})
	h.start()
	ctx := context.Background()
	entityState := func() (lifecycle.State, bool) {
		st, err := h.d.store.Violations(ctx, store.ViolationFilter{Code: entity.CodeEmptyShell})
		if err != nil {
			t.Fatal(err)
		}
		if len(st) == 0 {
			return lifecycle.State{}, false
		}
		return st[0], true
	}
	// Both sites stop resolving: shell_unresolvable.
	h.mu.Lock()
	for _, d := range []string{a, "www." + a, b, "www." + b} {
		h.resolves[d] = false
	}
	h.mu.Unlock()

	h.runCheck(checks.CheckShell, a)
	h.runCheck(checks.CheckShell, a) // a confirmed; b never checked: not judged
	if _, ok := entityState(); ok {
		t.Fatal("entity judged while one of its sites was never checked")
	}
	h.runCheck(checks.CheckShell, b)
	h.runCheck(checks.CheckShell, b) // both confirmed: the entity fails once
	if st, ok := entityState(); !ok || st.Status != lifecycle.StatusPending || st.Domain != a {
		t.Fatalf("entity after both sites confirmed: %+v %v, want pending on %s", st, ok, a)
	}
	h.runCheck(checks.CheckShell, a) // and again: opened
	st, ok := entityState()
	if !ok || st.Status != lifecycle.StatusOpen || st.Deadline.IsZero() {
		t.Fatalf("entity violation %+v, want open with a deadline", st)
	}
	if !strings.Contains(st.Evidence, "shells="+a+","+b) {
		t.Errorf("evidence %q does not list the shells", st.Evidence)
	}
	h.waitFor("the owner notice of the entity", func() bool {
		for _, n := range h.received("/owner/" + a) {
			if strings.Contains(fmt.Sprint(n.Body), entity.CodeEmptyShell) {
				return true
			}
		}
		return false
	})
	h.waitFor("the ops summary", func() bool {
		for _, n := range h.received("/ops") {
			if strings.Contains(fmt.Sprint(n.Body), entity.CodeEmptyShell) && strings.Contains(fmt.Sprint(n.Body), "空壳主体") {
				return true
			}
		}
		return false
	})

	// b's next run cannot tell (our resolver failed): the entity is not
	// judged, and its open violation neither counts for nor against.
	before, _ := entityState()
	inconclusive := checks.Result{Check: checks.CheckShell, Outcome: checks.Inconclusive, Reason: "dns: SERVFAIL"}
	if _, err := h.d.engine.Record(ctx, []store.SiteResult{{Domain: b, Result: inconclusive}}); err != nil {
		t.Fatal(err)
	}
	mid, _ := entityState()
	if mid.Fails != before.Fails || mid.Passes != before.Passes || mid.Status != lifecycle.StatusOpen {
		t.Errorf("an inconclusive site changed the entity: before %+v after %+v", before, mid)
	}
	runs, err := h.d.store.Runs(ctx, a, entity.Check, 1)
	if err != nil || len(runs) != 1 || runs[0].Result.Outcome != checks.Inconclusive || !strings.Contains(runs[0].Result.Reason, b) {
		t.Errorf("latest entity run %+v %v, want inconclusive naming %s", runs, err, b)
	}
	h.mu.Lock()
	h.resolves[b], h.resolves["www."+b] = true, true
	h.mu.Unlock()

	// Fixing b: the entity has a live site; two passes resolve it.
	h.setFooter(b, fmt.Sprintf(goodFooter, "京ICP备2024000777号-2"))
	h.runCheck(checks.CheckShell, b)
	h.runCheck(checks.CheckShell, b)
	after, _ := entityState()
	if before.Status != lifecycle.StatusOpen {
		t.Fatalf("before: %+v", before)
	}
	if after.Status != lifecycle.StatusResolved {
		t.Errorf("entity after a site was fixed: %+v, want resolved", after)
	}
}
