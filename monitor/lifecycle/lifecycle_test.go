package lifecycle

import (
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/beian"
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

const site = "example.cn"

func viol(code string) beian.Finding {
	return beian.Finding{Code: code, Severity: beian.Violation, Message: code + " message", Evidence: code + " evidence"}
}

func warn(code string) beian.Finding {
	return beian.Finding{Code: code, Severity: beian.Warning, Message: "warning"}
}

func run(check string, outcome beian.Outcome, fs ...beian.Finding) beian.Result {
	return beian.Result{Check: check, Outcome: outcome, Findings: fs}
}

// step is one event in a scenario: a check run, or a tick, at t0+at.
type step struct {
	at     time.Duration
	result *beian.Result // nil means Tick
	// want is the status of code after the step, and kinds the
	// transitions it produced (for any code).
	want  Status
	kinds []Kind
}

func res(r beian.Result) *beian.Result { return &r }

func TestApplyAndTickScenarios(t *testing.T) {
	const code = "footer_link_missing"
	failing := res(run("footer", beian.Fail, viol(code)))
	passing := res(run("footer", beian.Pass))
	inconclusive := res(run("footer", beian.Inconclusive, viol(code)))
	notApplicable := res(run("footer", beian.NotApplicable))
	h := time.Hour

	cfg := DefaultConfig()
	one := cfg
	one.FailureThreshold, one.SuccessThreshold = 1, 1

	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"opens after two consecutive fails", cfg, []step{
			{0, failing, StatusPending, nil},
			{6 * h, failing, StatusOpen, []Kind{KindOpened}},
			{12 * h, failing, StatusOpen, nil},
		}},
		{"inconclusive in the middle neither counts nor resets", cfg, []step{
			{0, failing, StatusPending, nil},
			{6 * h, inconclusive, StatusPending, nil},
			{7 * h, notApplicable, StatusPending, nil},
			{12 * h, failing, StatusOpen, []Kind{KindOpened}},
			{18 * h, passing, StatusOpen, nil},
			{19 * h, inconclusive, StatusOpen, nil},
			{24 * h, passing, StatusResolved, []Kind{KindResolved}},
		}},
		{"inconclusive alone never opens", cfg, []step{
			{0, inconclusive, StatusNone, nil},
			{6 * h, inconclusive, StatusNone, nil},
			{12 * h, inconclusive, StatusNone, nil},
		}},
		{"flapping never opens", cfg, []step{
			{0, failing, StatusPending, nil},
			{6 * h, passing, StatusNone, nil},
			{12 * h, failing, StatusPending, nil},
			{18 * h, passing, StatusNone, nil},
			{24 * h, failing, StatusPending, nil},
		}},
		{"flapping while open never resolves", cfg, []step{
			{0, failing, StatusPending, nil},
			{1 * h, failing, StatusOpen, []Kind{KindOpened}},
			{2 * h, passing, StatusOpen, nil},
			{3 * h, failing, StatusOpen, nil},
			{4 * h, passing, StatusOpen, nil},
			{5 * h, passing, StatusResolved, []Kind{KindResolved}},
		}},
		{"threshold one opens and resolves at once", one, []step{
			{0, failing, StatusOpen, []Kind{KindOpened}},
			{1 * h, passing, StatusResolved, []Kind{KindResolved}},
			{2 * h, failing, StatusOpen, []Kind{KindOpened}},
		}},
		{"reminders every 72h, escalation once, resolve from escalated", cfg, []step{
			{0, failing, StatusPending, nil},
			{1 * h, failing, StatusOpen, []Kind{KindOpened}},
			{72 * h, nil, StatusOpen, nil}, // 71h since opening: not yet
			{73 * h, nil, StatusOpen, []Kind{KindReminder}},
			{74 * h, nil, StatusOpen, nil},
			{145 * h, nil, StatusOpen, []Kind{KindReminder}},
			{217 * h, nil, StatusOpen, []Kind{KindReminder}},
			{241 * h, nil, StatusEscalated, []Kind{KindEscalated}}, // deadline = 1h + 240h
			{242 * h, nil, StatusEscalated, nil},
			{400 * h, nil, StatusEscalated, nil}, // no reminders, no second escalation
			{401 * h, failing, StatusEscalated, nil},
			{402 * h, passing, StatusEscalated, nil},
			{403 * h, passing, StatusResolved, []Kind{KindResolved}},
			{600 * h, nil, StatusResolved, nil},
		}},
		{"a daemon that was down sends one reminder, not a burst", cfg, []step{
			{0, failing, StatusPending, nil},
			{0, failing, StatusOpen, []Kind{KindOpened}},
			{200 * h, nil, StatusOpen, []Kind{KindReminder}},
			{201 * h, nil, StatusOpen, nil},
		}},
		{"down past the deadline escalates without a reminder first", cfg, []step{
			{0, failing, StatusPending, nil},
			{0, failing, StatusOpen, []Kind{KindOpened}},
			{500 * h, nil, StatusEscalated, []Kind{KindEscalated}},
		}},
		{"reopens after resolving with a fresh deadline", one, []step{
			{0, failing, StatusOpen, []Kind{KindOpened}},
			{1 * h, passing, StatusResolved, []Kind{KindResolved}},
			{300 * h, nil, StatusResolved, nil},
			{301 * h, failing, StatusOpen, []Kind{KindOpened}},
			{400 * h, nil, StatusOpen, []Kind{KindReminder}}, // would have escalated with the old deadline
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var states []State
			for i, st := range tt.steps {
				now := t0.Add(st.at)
				var trs []Transition
				if st.result != nil {
					states, trs = Apply(now, tt.cfg, site, states, *st.result)
				} else {
					states, trs = Tick(now, tt.cfg, states)
				}
				got := StatusNone
				for _, s := range states {
					if s.Code == code {
						got = s.Status
					}
				}
				if got != st.want {
					t.Fatalf("step %d (+%s): status %q, want %q (states %+v)", i, st.at, got, st.want, states)
				}
				var kinds []Kind
				for _, tr := range trs {
					kinds = append(kinds, tr.Kind)
					if tr.Domain != site || tr.Code != code || !tr.At.Equal(now) {
						t.Errorf("step %d: transition %+v has wrong domain, code or time", i, tr)
					}
					if (tr.Kind == KindEscalated) != tr.Ops {
						t.Errorf("step %d: %s transition has Ops=%v; only escalations go to ops", i, tr.Kind, tr.Ops)
					}
				}
				if strings.Join(kindsStr(kinds), ",") != strings.Join(kindsStr(st.kinds), ",") {
					t.Fatalf("step %d (+%s): transitions %v, want %v", i, st.at, kinds, st.kinds)
				}
			}
		})
	}
}

func kindsStr(ks []Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

func TestApplyOpenSetsDeadlineFromPerCodePeriod(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FailureThreshold = 1
	cfg.PeriodByCode = map[string]time.Duration{"shell_unresolvable": 72 * time.Hour}
	r := run("shell", beian.Fail, viol("shell_unresolvable"), viol("shell_off_provider"))
	next, trs := Apply(t0, cfg, site, nil, r)
	if len(trs) != 2 || len(next) != 2 {
		t.Fatalf("want 2 opened violations, got %d transitions, %d states", len(trs), len(next))
	}
	want := map[string]time.Time{
		"shell_off_provider": t0.Add(240 * time.Hour),
		"shell_unresolvable": t0.Add(72 * time.Hour),
	}
	for _, tr := range trs {
		if !tr.Deadline.Equal(want[tr.Code]) || !tr.OpenedAt.Equal(t0) {
			t.Errorf("%s: deadline %s opened %s, want deadline %s", tr.Code, tr.Deadline, tr.OpenedAt, want[tr.Code])
		}
		if tr.From != StatusNone || tr.To != StatusOpen {
			t.Errorf("%s: %s -> %s, want none -> open", tr.Code, tr.From, tr.To)
		}
	}
	if trs[0].Code != "shell_off_provider" {
		t.Errorf("transitions not in code order: %v", trs)
	}
}

func TestApplyScopesToTheRunsCheck(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FailureThreshold, cfg.SuccessThreshold = 1, 1
	states, _ := Apply(t0, cfg, site, nil, run("footer", beian.Fail, viol("footer_icp_missing")))
	states, _ = Apply(t0, cfg, site, states, run("shell", beian.Fail, viol("shell_unreachable")))
	if len(states) != 2 {
		t.Fatalf("want two open violations, got %+v", states)
	}

	// A passing shell run resolves shell codes only, not footer ones.
	states, trs := Apply(t0.Add(time.Hour), cfg, site, states, run("shell", beian.Pass))
	if len(trs) != 1 || trs[0].Code != "shell_unreachable" || trs[0].Kind != KindResolved {
		t.Fatalf("want only shell_unreachable resolved, got %+v", trs)
	}
	for _, s := range states {
		if s.Code == "footer_icp_missing" && s.Status != StatusOpen {
			t.Errorf("footer violation changed by a shell run: %+v", s)
		}
	}

	// A finding whose code belongs to another check is ignored.
	_, trs = Apply(t0, cfg, site, nil, run("footer", beian.Fail, viol("dns_resolving_while_pending")))
	if len(trs) != 0 {
		t.Errorf("foreign code opened a violation: %+v", trs)
	}

	// States of other sites pass through untouched.
	other := State{Domain: "other.cn", Code: "footer_icp_missing", Status: StatusOpen}
	next, _ := Apply(t0, cfg, site, []State{other}, run("footer", beian.Pass))
	if len(next) != 1 || next[0] != other {
		t.Errorf("other site's state changed: %+v", next)
	}
}

func TestApplyWarningsNeverOpen(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FailureThreshold = 1
	var states []State
	var trs []Transition
	for i := range 5 {
		states, trs = Apply(t0.Add(time.Duration(i)*time.Hour), cfg, site, states,
			run("footer", beian.Pass, warn("footer_icp_format"), warn("footer_icp_entity_only")))
		if len(trs) != 0 || len(states) != 0 {
			t.Fatalf("run %d: warnings produced states %+v transitions %+v", i, states, trs)
		}
	}
	// Even in a failing run, a warning beside a violation is not tracked.
	states, trs = Apply(t0, cfg, site, nil, run("footer", beian.Fail, viol("footer_link_missing"), warn("footer_icp_format")))
	if len(states) != 1 || states[0].Code != "footer_link_missing" || len(trs) != 1 {
		t.Fatalf("want only the violation tracked, got %+v", states)
	}
}

func TestApplyDoesNotMutateInput(t *testing.T) {
	cfg := DefaultConfig()
	in := []State{{Domain: site, Code: "footer_link_missing", Status: StatusPending, Fails: 1}}
	orig := in[0]
	next, _ := Apply(t0, cfg, site, in, run("footer", beian.Fail, viol("footer_link_missing")))
	if in[0] != orig {
		t.Fatalf("input mutated: %+v", in[0])
	}
	if next[0].Status != StatusOpen {
		t.Fatalf("want open, got %+v", next[0])
	}
	ticked, _ := Tick(t0.Add(1000*time.Hour), cfg, next)
	if next[0].Status != StatusOpen || ticked[0].Status != StatusEscalated {
		t.Fatalf("Tick mutated input or did not escalate: in %+v out %+v", next[0], ticked[0])
	}
}

func TestApplyEvidenceIsDeduplicatedAndBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FailureThreshold = 1
	long := strings.Repeat("备", 1500) // 4500 bytes of multi-byte text
	r := run("footer", beian.Fail,
		beian.Finding{Code: "footer_link_wrong", Severity: beian.Violation, Message: "m", Evidence: "a"},
		beian.Finding{Code: "footer_link_wrong", Severity: beian.Violation, Message: "m", Evidence: "a"},
		beian.Finding{Code: "footer_link_wrong", Severity: beian.Violation, Message: "m", Evidence: "b"},
		beian.Finding{Code: "footer_icp_missing", Severity: beian.Violation, Message: "m", Evidence: long},
	)
	next, _ := Apply(t0, cfg, site, nil, r)
	for _, s := range next {
		switch s.Code {
		case "footer_link_wrong":
			if s.Evidence != "a\nb" || s.Message != "m" {
				t.Errorf("evidence %q message %q, want deduplicated \"a\\nb\" and \"m\"", s.Evidence, s.Message)
			}
		case "footer_icp_missing":
			if len(s.Evidence) > maxEvidence+len("…") || !strings.HasSuffix(s.Evidence, "…") {
				t.Errorf("evidence not clipped: %d bytes", len(s.Evidence))
			}
			if !strings.HasPrefix(s.Evidence, "备备") || strings.ContainsRune(s.Evidence, '\uFFFD') {
				t.Errorf("clipping broke UTF-8")
			}
		}
	}
}

func TestWithdraw(t *testing.T) {
	states := []State{
		{Domain: site, Code: "dns_resolving_while_pending", Status: StatusOpen, Fails: 3},
		{Domain: site, Code: "footer_icp_missing", Status: StatusOpen},
		{Domain: site, Code: "dns_other", Status: StatusPending, Fails: 1},
	}
	next, trs := Withdraw(t0, site, "dns", "filing granted", states)
	if len(trs) != 1 || trs[0].Kind != KindWithdrawn || trs[0].Code != "dns_resolving_while_pending" || trs[0].Reason != "filing granted" {
		t.Fatalf("want one withdrawn dns transition, got %+v", trs)
	}
	want := map[string]Status{"dns_resolving_while_pending": StatusResolved, "footer_icp_missing": StatusOpen, "dns_other": StatusNone}
	for _, s := range next {
		if s.Status != want[s.Code] {
			t.Errorf("%s: %s, want %s", s.Code, s.Status, want[s.Code])
		}
	}
	// A withdrawn violation is no longer reminded or escalated.
	_, trs = Tick(t0.Add(2000*time.Hour), DefaultConfig(), next[:1])
	if len(trs) != 0 {
		t.Errorf("withdrawn violation still ticks: %+v", trs)
	}
}

func TestNextDue(t *testing.T) {
	cfg := DefaultConfig()
	open := State{Status: StatusOpen, LastNotifiedAt: t0, Deadline: t0.Add(240 * time.Hour)}
	if got := NextDue(cfg, open); !got.Equal(t0.Add(72 * time.Hour)) {
		t.Errorf("next due %s, want reminder time", got)
	}
	open.LastNotifiedAt = t0.Add(200 * time.Hour)
	if got := NextDue(cfg, open); !got.Equal(open.Deadline) {
		t.Errorf("next due %s, want deadline", got)
	}
	if got := NextDue(cfg, State{Status: StatusEscalated}); !got.IsZero() {
		t.Errorf("escalated has next due %s, want never", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	bad := Config{FailureThreshold: 0, SuccessThreshold: -1, RectificationPeriod: 0, RemindEvery: -time.Hour,
		PeriodByCode: map[string]time.Duration{"nounderscore": time.Hour, "footer_x": 0}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"failure_threshold", "success_threshold", "rectification_period", "remind_every", `"nounderscore"`, `"footer_x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestCheckOf(t *testing.T) {
	for code, want := range map[string]string{
		"footer_link_missing": "footer", "dns_resolving_while_pending": "dns",
		"contact_vacant": "contact", "footer": "", "_x": "", "shell_": "", "": "",
	} {
		if got := CheckOf(code); got != want {
			t.Errorf("CheckOf(%q) = %q, want %q", code, got, want)
		}
	}
}

// A run that fails on one code but could not judge another must not count
// as a pass for the other: that would resolve a violation nobody saw fixed.
func TestApplyUnjudgedCodesNeitherPassNorFail(t *testing.T) {
	cfg := DefaultConfig()
	open := []State{{Domain: site, Code: "shell_unreachable", Status: StatusOpen, Fails: 2, OpenedAt: t0, Deadline: t0.Add(240 * time.Hour)}}
	partial := run("shell", beian.Fail, viol("shell_off_provider"))
	partial.Unjudged = []string{"shell_unreachable", "shell_placeholder"}
	tests := []struct {
		name   string
		runs   []beian.Result
		status Status
		kinds  []Kind
	}{
		{"unjudged twice stays open", []beian.Result{partial, partial}, StatusOpen, nil},
		{"judged passing twice resolves", []beian.Result{run("shell", beian.Fail, viol("shell_off_provider")), run("shell", beian.Fail, viol("shell_off_provider"))},
			StatusResolved, []Kind{KindResolved}},
		{"unjudged between passes does not reset them", []beian.Result{run("shell", beian.Pass), partial, run("shell", beian.Pass)},
			StatusResolved, []Kind{KindResolved}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			states := open
			var kinds []Kind
			for i, r := range tt.runs {
				var trs []Transition
				states, trs = Apply(t0.Add(time.Duration(i+1)*time.Hour), cfg, site, states, r)
				for _, tr := range trs {
					if tr.Code == "shell_unreachable" {
						kinds = append(kinds, tr.Kind)
					}
				}
			}
			var got Status
			for _, s := range states {
				if s.Code == "shell_unreachable" {
					got = s.Status
				}
			}
			if got != tt.status || strings.Join(kindsStr(kinds), ",") != strings.Join(kindsStr(tt.kinds), ",") {
				t.Errorf("shell_unreachable %s with transitions %v, want %s with %v", got, kinds, tt.status, tt.kinds)
			}
		})
	}
}

func TestExempt(t *testing.T) {
	only := func(code string) func(string) bool { return func(c string) bool { return c == code } }
	states := []State{
		{Domain: site, Code: "footer_link_missing", Status: StatusOpen, Fails: 3, OpenedAt: t0, Deadline: t0.Add(240 * time.Hour)},
		{Domain: site, Code: "footer_psb_missing", Status: StatusOpen, Fails: 2, OpenedAt: t0},
		{Domain: site, Code: "contact_vacant", Status: StatusPending, Fails: 1},
		{Domain: "other.cn", Code: "footer_link_missing", Status: StatusOpen, Fails: 2},
	}
	for _, tt := range []struct {
		name   string
		exempt func(string) bool
		want   map[string]Status // by code, for site
		trs    int
	}{
		{"one code", only("footer_link_missing"), map[string]Status{"footer_link_missing": StatusExempted, "footer_psb_missing": StatusOpen, "contact_vacant": StatusPending}, 1},
		{"a pending code is forgotten", only("contact_vacant"), map[string]Status{"footer_link_missing": StatusOpen, "contact_vacant": StatusNone}, 0},
		{"a whole check", func(c string) bool { return CheckOf(c) == "footer" }, map[string]Status{"footer_link_missing": StatusExempted, "footer_psb_missing": StatusExempted}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			next, trs := Exempt(t0.Add(time.Hour), site, "exemption #1", tt.exempt, states)
			if len(trs) != tt.trs {
				t.Errorf("transitions %+v, want %d", trs, tt.trs)
			}
			for _, tr := range trs {
				if tr.Kind != KindExempted || tr.To != StatusExempted || tr.Kind.Announced() || tr.Reason != "exemption #1" {
					t.Errorf("transition %+v", tr)
				}
			}
			for _, s := range next {
				if s.Domain != site {
					if s.Status != StatusOpen {
						t.Errorf("another site's violation became %s", s.Status)
					}
					continue
				}
				if w, ok := tt.want[s.Code]; ok && s.Status != w {
					t.Errorf("%s: %s, want %s", s.Code, s.Status, w)
				}
				if s.Status == StatusExempted && (s.Fails != 0 || s.OpenedAt.IsZero()) {
					t.Errorf("%s: exempted state %+v must reset the counts and keep its dates", s.Code, s)
				}
			}
			if states[0].Status != StatusOpen {
				t.Fatal("Exempt changed its input")
			}
		})
	}
	// An exempted code is neither reminded nor escalated, and after the
	// exemption a failure counts from zero.
	next, _ := Exempt(t0, site, "r", only("footer_link_missing"), states[:1])
	if _, trs := Tick(t0.Add(1000*time.Hour), DefaultConfig(), next); len(trs) != 0 {
		t.Errorf("tick on an exempted violation: %+v", trs)
	}
	next, trs := Apply(t0.Add(2*time.Hour), DefaultConfig(), site, next, run("footer", beian.Fail, viol("footer_link_missing")))
	if len(trs) != 0 || next[0].Status != StatusPending {
		t.Errorf("first failure after the exemption: %+v %+v", next[0], trs)
	}
	_, trs = Apply(t0.Add(3*time.Hour), DefaultConfig(), site, next, run("footer", beian.Fail, viol("footer_link_missing")))
	if len(trs) != 1 || trs[0].Kind != KindOpened || trs[0].From != StatusPending {
		t.Errorf("second failure after the exemption: %+v", trs)
	}
}

func TestWithoutExempt(t *testing.T) {
	r := run("footer", beian.Fail, viol("footer_link_missing"), viol("footer_psb_missing"), warn("footer_link_missing"))
	got := WithoutExempt(r, func(c string) bool { return c == "footer_link_missing" })
	if len(got.Findings) != 2 || got.Findings[0].Code != "footer_psb_missing" || got.Findings[1].Severity != beian.Warning {
		t.Errorf("findings %+v: want the exempted violation out, the rest kept", got.Findings)
	}
	if len(got.Unjudged) != 1 || got.Unjudged[0] != "footer_link_missing" {
		t.Errorf("unjudged %v", got.Unjudged)
	}
	if len(r.Findings) != 3 || len(r.Unjudged) != 0 {
		t.Errorf("WithoutExempt changed its input: %+v", r)
	}
	if same := WithoutExempt(r, nil); len(same.Findings) != 3 {
		t.Errorf("nil predicate changed the result")
	}
	// An open violation of an exempted code is not resolved by the run
	// that no longer shows it to the lifecycle.
	states := []State{{Domain: site, Code: "footer_link_missing", Status: StatusOpen, Fails: 2}}
	next, trs := Apply(t0, DefaultConfig(), site, states, got)
	if len(trs) != 0 || next[0].Status != StatusOpen || next[0].Passes != 0 || next[1].Status != StatusPending {
		t.Errorf("apply: %+v %+v", next, trs)
	}
}
