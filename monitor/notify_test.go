package monitor

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/alerts"
	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/engine"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// dlvReceiver is an owner's webhook endpoint written the way the receiver
// guide says, with the standard library only: it checks the signature
// over "<timestamp>.<body>" and the notice id header against the body.
// respond decides the reply to the n-th request (0-based).
type dlvReceiver struct {
	srv     *httptest.Server
	secret  string
	respond func(n int, w http.ResponseWriter)

	mu   sync.Mutex
	reqs []dlvRequest
}

type dlvRequest struct {
	at       time.Time // real clock
	id       string
	bodyID   string
	verified bool
	body     map[string]any
}

func newDlvReceiver(t *testing.T, secret string, respond func(n int, w http.ResponseWriter)) *dlvReceiver {
	r := &dlvReceiver{secret: secret, respond: respond}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *dlvReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ts := req.Header.Get("X-Beianwatch-Timestamp")
	sig := req.Header.Get("X-Beianwatch-Signature")
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	sec, err := strconv.ParseInt(ts, 10, 64)
	fresh := err == nil && time.Since(time.Unix(sec, 0)).Abs() < 5*time.Minute
	var m map[string]any
	json.Unmarshal(body, &m)
	id, _ := m["id"].(string)
	rq := dlvRequest{at: time.Now(), id: req.Header.Get("X-Beianwatch-Notice-Id"), bodyID: id,
		verified: fresh && hmac.Equal([]byte(sig), []byte(want)), body: m}
	r.mu.Lock()
	n := len(r.reqs)
	r.reqs = append(r.reqs, rq)
	r.mu.Unlock()
	if !rq.verified {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.respond != nil {
		r.respond(n, w)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *dlvReceiver) requests() []dlvRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]dlvRequest(nil), r.reqs...)
}

// dlvSetup is the delivery path of the daemon without the checks: the
// real notifier, engine and store, one site whose owner channel is a
// signed webhook to rcv.
type dlvSetup struct {
	t    *testing.T
	path string
	cfg  *config.Config
	ecfg engine.Config
	rcv  *dlvReceiver
	st   *store.Store
	eng  *engine.Engine
}

type dlvNoSites struct{}

func (dlvNoSites) Domains(string) []string { return nil }

type dlvNoRunner struct{}

func (dlvNoRunner) Run(context.Context, string, []string) []store.SiteResult { return nil }

func newDlvSetup(t *testing.T, rcv *dlvReceiver) *dlvSetup {
	cfg := config.Default()
	cfg.Provider.Name = "TestCloud"
	cfg.Provider.OpsChannel = config.Channel{Kind: "webhook", URL: rcv.srv.URL + "/ops", SecretEnv: "OPS_SECRET"}
	cfg.Notices.QuietHours = config.QuietHours{}
	s := &dlvSetup{t: t, path: filepath.Join(t.TempDir(), "bw.db"), cfg: cfg, rcv: rcv}
	lc := lifecycle.DefaultConfig()
	lc.FailureThreshold = 1
	s.ecfg = engine.Config{
		Lifecycle: lc, NotifyMaxAttempts: 5, FetchPollInterval: 100 * time.Millisecond,
		NotifyBackoff: func(int) time.Duration { return 50 * time.Millisecond },
		// No settle time: these tests time deliveries.
		Storm: lifecycle.StormConfig{Window: 30 * time.Minute, Share: 0.5, MinSites: 20},
	}
	return s
}

func (s *dlvSetup) notifier() *notifier {
	env := map[string]string{"OWNER_SECRET": s.rcv.secret, "OPS_SECRET": s.rcv.secret}
	site := &siteView{ref: alerts.SiteRef{Domain: "a.example.cn", ICP: testICP, Entity: "测试公司"},
		owner: config.Channel{Kind: "webhook", URL: s.rcv.srv.URL + "/owner/a.example.cn", SecretEnv: "OWNER_SECRET"}}
	r, err := alerts.NewRenderer(alerts.RendererOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return &notifier{cfg: s.cfg, renderer: r, client: &http.Client{}, now: time.Now,
		getenv: func(k string) string { return env[k] },
		sites: func(d string) *siteView {
			if d == site.ref.Domain {
				return site
			}
			return nil
		}}
}

// start opens the store and starts an engine on it (again, after stop:
// a restart).
func (s *dlvSetup) start() {
	s.t.Helper()
	st, err := store.Open(context.Background(), s.path)
	if err != nil {
		s.t.Fatal(err)
	}
	eng, err := engine.New(s.ecfg, engine.Deps{Store: st, Runner: dlvNoRunner{}, Notifier: s.notifier(), Inventory: dlvNoSites{}})
	if err != nil {
		st.Close()
		s.t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		st.Close()
		s.t.Fatal(err)
	}
	s.st, s.eng = st, eng
	s.t.Cleanup(s.stop)
}

func (s *dlvSetup) stop() {
	if s.eng == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.eng.Stop(ctx)
	s.st.Close()
	s.eng, s.st = nil, nil
}

// open records a failing footer run: with threshold 1 the violation opens
// and its owner notice is queued.
func (s *dlvSetup) open() string {
	s.t.Helper()
	rec, err := s.eng.Record(context.Background(), []store.SiteResult{{Domain: "a.example.cn", Result: checks.Result{
		Check: checks.CheckFooter, Outcome: checks.Fail, Findings: []checks.Finding{{
			Code: checks.CodeFooterLinkObsolete, Severity: checks.Violation, Message: "linked to a dead MIIT host",
			Evidence: `<a href="http://www.miitbeian.gov.cn/">` + testICP + `</a>`}}}}})
	if err != nil || len(rec.QueuedIDs()) != 1 {
		s.t.Fatalf("record: %+v %v", rec, err)
	}
	return rec.QueuedIDs()[0]
}

func (s *dlvSetup) waitState(id string, want store.NoticeState) store.Notice {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := s.st.Notice(context.Background(), id)
		if err == nil && n.State == want {
			return n
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("notice %s: %+v %v, want state %s", id, n, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNotifierSignatureVerifiedIndependently: what the daemon's notifier
// sends verifies with nothing but the standard library, and carries the
// notice id in the header and the body.
func TestNotifierSignatureVerifiedIndependently(t *testing.T) {
	rcv := newDlvReceiver(t, "s3cret-owner-key", nil)
	s := newDlvSetup(t, rcv)
	nt := s.notifier()
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	sn := store.Notice{ID: "ntc_0123", Domain: "a.example.cn", Kind: store.NoticeOwner, CreatedAt: now,
		Payload: store.NoticePayload{Domain: "a.example.cn", Transitions: []lifecycle.Transition{{
			Domain: "a.example.cn", Code: checks.CodeFooterLinkObsolete, Kind: lifecycle.KindOpened,
			At: now, OpenedAt: now, Deadline: now.Add(240 * time.Hour), Evidence: "miitbeian.gov.cn"}}}}
	d, err := nt.Deliver(context.Background(), sn)
	if err != nil || d.StatusCode != http.StatusNoContent {
		t.Fatalf("deliver: %+v %v", d, err)
	}
	reqs := rcv.requests()
	if len(reqs) != 1 || !reqs[0].verified || reqs[0].id != "ntc_0123" || reqs[0].bodyID != "ntc_0123" {
		t.Fatalf("receiver saw %+v", reqs)
	}
	vs, _ := reqs[0].body["violations"].([]any)
	if len(vs) != 1 || vs[0].(map[string]any)["code"] != checks.CodeFooterLinkObsolete || vs[0].(map[string]any)["transition"] != "opened" {
		t.Errorf("violations %v", reqs[0].body["violations"])
	}

	// A receiver holding another secret refuses it: the check can fail.
	other := newDlvReceiver(t, "another-key", nil)
	s2 := newDlvSetup(t, other)
	nt2 := s2.notifier()
	env := map[string]string{"OWNER_SECRET": "s3cret-owner-key"}
	nt2.getenv = func(k string) string { return env[k] }
	if _, err := nt2.Deliver(context.Background(), sn); err == nil || !engine.IsPermanent(err) {
		t.Fatalf("a badly signed notice was accepted (or not refused for good): %v", err)
	}
	if reqs := other.requests(); len(reqs) != 1 || reqs[0].verified {
		t.Fatalf("receiver with another key saw %+v", reqs)
	}
}

// TestDeliveryReceiverDownThenUp: a receiver down for the first N
// attempts, then up: delivered exactly once, N+1 attempts recorded, the
// same id every time.
func TestDeliveryReceiverDownThenUp(t *testing.T) {
	const down = 3
	rcv := newDlvReceiver(t, "owner-secret", func(n int, w http.ResponseWriter) {
		if n < down {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	s := newDlvSetup(t, rcv)
	s.start()
	id := s.open()
	n := s.waitState(id, store.NoticeDelivered)
	time.Sleep(300 * time.Millisecond) // room for a wrong extra send
	reqs := rcv.requests()
	atts, err := s.st.Attempts(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != down+1 || len(atts) != down+1 || n.Attempts != down+1 {
		t.Fatalf("%d requests, %d attempts recorded, %d counted; want %d", len(reqs), len(atts), n.Attempts, down+1)
	}
	for i, r := range reqs {
		if r.id != id || !r.verified {
			t.Errorf("request %d: id %q verified %v, want %s signed", i, r.id, r.verified, id)
		}
	}
	for i, a := range atts {
		want := http.StatusServiceUnavailable
		if i == down {
			want = http.StatusOK
		}
		if a.StatusCode != want || a.Channel != "webhook" {
			t.Errorf("attempt %d recorded %+v, want HTTP %d", i+1, a, want)
		}
	}
	if !strings.Contains(atts[0].BodyExcerpt, "maintenance") {
		t.Errorf("first attempt's excerpt %q", atts[0].BodyExcerpt)
	}
}

// TestDeliveryRestartDuringBackoff: the daemon stops while a notice waits
// for its retry; the next daemon delivers it once, with the same id.
func TestDeliveryRestartDuringBackoff(t *testing.T) {
	rcv := newDlvReceiver(t, "owner-secret", func(n int, w http.ResponseWriter) {
		if n == 0 {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s := newDlvSetup(t, rcv)
	s.ecfg.NotifyBackoff = func(int) time.Duration { return 1500 * time.Millisecond }
	s.start()
	id := s.open()
	deadline := time.Now().Add(10 * time.Second)
	for len(rcv.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.waitState(id, store.NoticeQueued) // the failed attempt is recorded
	s.stop()
	if got := len(rcv.requests()); got != 1 {
		t.Fatalf("%d requests before the restart, want 1", got)
	}
	s.start()
	n := s.waitState(id, store.NoticeDelivered)
	time.Sleep(300 * time.Millisecond)
	reqs := rcv.requests()
	if len(reqs) != 2 || reqs[0].id != id || reqs[1].id != id || n.Attempts != 2 {
		t.Fatalf("requests %+v, notice %+v: want two requests with id %s", reqs, n, id)
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 1500*time.Millisecond {
		t.Errorf("retried %s after the failure, before the backoff of 1.5s", gap)
	}
}

// TestDelivery429RetryAfter: a 429 with Retry-After: 2 holds the next
// attempt for at least two seconds although the backoff is 50ms.
func TestDelivery429RetryAfter(t *testing.T) {
	rcv := newDlvReceiver(t, "owner-secret", func(n int, w http.ResponseWriter) {
		if n == 0 {
			w.Header().Set("Retry-After", "2")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s := newDlvSetup(t, rcv)
	s.start()
	id := s.open()
	s.waitState(id, store.NoticeDelivered)
	reqs := rcv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 2*time.Second {
		t.Fatalf("retried %s after a 429 with Retry-After: 2", gap)
	}
	atts, _ := s.st.Attempts(context.Background(), id)
	if len(atts) != 2 || atts[0].StatusCode != http.StatusTooManyRequests {
		t.Fatalf("attempts %+v", atts)
	}
}

// TestQuietHoursDeferOwnerNotOps: with quiet hours ending in a moment on
// the daemon's (injected) clock, the owner's notice waits for their end
// and is sent then; the escalation to ops goes at once.
func TestQuietHoursDeferOwnerNotOps(t *testing.T) {
	rcv := newDlvReceiver(t, "owner-secret", nil)
	s := newDlvSetup(t, rcv)
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	// Quiet hours 22:00-08:00 (the default) in Shanghai, and a clock that
	// runs from 1.5s before they end.
	base := time.Date(2026, 11, 3, 7, 59, 58, 500_000_000, sh)
	real0 := time.Now()
	clock := func() time.Time { return base.Add(time.Since(real0)) }
	s.cfg.Notices.QuietHours = config.QuietHours{Start: 22 * 60, End: 8 * 60, Set: true}
	s.cfg.Notices.Location = sh
	d := &Daemon{cfg: s.cfg}
	s.ecfg.Now = clock
	s.ecfg.QuietUntil = d.quietUntil
	s.start()
	// An escalation: the owner's notice and the one for ops.
	ctx := context.Background()
	err = s.st.InTx(ctx, func(tx *sql.Tx) error {
		for _, k := range []store.NoticeKind{store.NoticeOwner, store.NoticeOps} {
			tr := lifecycle.Transition{Domain: "a.example.cn", Code: checks.CodeFooterLinkObsolete, Kind: lifecycle.KindEscalated,
				At: clock(), OpenedAt: clock().Add(-240 * time.Hour), Deadline: clock(), Ops: k == store.NoticeOps}
			if _, err := s.st.CreateNoticeTx(ctx, tx, clock(), "a.example.cn", k,
				store.NoticePayload{Domain: "a.example.cn", Transitions: []lifecycle.Transition{tr}}, store.NoticeHeld); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.eng.ReleaseHeld(ctx, ""); err != nil || n != 2 {
		t.Fatalf("queue: %d %v", n, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(rcv.requests()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	reqs := rcv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d notices delivered, want 2", len(reqs))
	}
	end := time.Date(2026, 11, 3, 8, 0, 0, 0, sh)
	if reqs[0].body["kind"] != "ops" || !base.Add(reqs[0].at.Sub(real0)).Before(end) {
		t.Errorf("first delivery %v at %s: want the ops escalation, inside quiet hours", reqs[0].body["kind"], base.Add(reqs[0].at.Sub(real0)))
	}
	if at := base.Add(reqs[1].at.Sub(real0)); reqs[1].body["kind"] != "owner" || at.Before(end) {
		t.Errorf("second delivery %v at %s: want the owner's, after 08:00", reqs[1].body["kind"], at)
	}
}

// TestStormGuardSixtySites: 50 of 60 sites fail at once: ops gets one
// summary and no owner hears anything. When the storm is over, the one
// site still broken is told; the 49 fixed ones are dropped, with the
// reason, and are not told about resolutions either.
func TestStormGuardSixtySites(t *testing.T) {
	var sites []fixtureSite
	var all []string
	for i := range 60 {
		s := fixtureSite{Domain: fmt.Sprintf("s%02d.example.cn", i)}
		if i < 50 {
			s.Footer = oldFooter
		}
		sites = append(sites, s)
		all = append(all, s.Domain)
	}
	h := newHarness(t, sites)
	h.start()
	ctx := context.Background()
	runs := func() int {
		var n int
		h.d.store.DB().QueryRow(`SELECT COUNT(*) FROM runs WHERE check_name = 'footer'`).Scan(&n)
		return n
	}
	round := func(want int) {
		t.Helper()
		if _, err := h.d.engine.Trigger(ctx, checks.CheckFooter, all); err != nil {
			t.Fatal(err)
		}
		h.waitFor(fmt.Sprintf("%d footer runs", want), func() bool { return runs() >= want })
	}
	round(60)
	round(120) // the threshold: 50 violations open, their notices held
	h.waitFor("the storm summary", func() bool { return len(h.received("/ops")) == 1 })
	var held int
	h.d.store.DB().QueryRow(`SELECT COUNT(*) FROM notices WHERE kind = 'owner' AND state = 'held'`).Scan(&held)
	if held != 50 {
		t.Fatalf("%d owner notices held, want 50", held)
	}
	time.Sleep(500 * time.Millisecond)
	if got := len(h.received("/owner/")); got != 0 {
		t.Fatalf("%d owner notices sent during the storm, want 0", got)
	}
	if ops := h.received("/ops"); ops[0].Body["type"] != "storm" || len(ops) != 1 {
		t.Fatalf("ops got %v", ops)
	}
	if title, _ := h.received("/ops")[0].Body["title"].(string); !strings.Contains(title, "网站负责人通知已暂缓") {
		t.Errorf("storm summary title %q does not say owner notices are held", title)
	}

	// The cause is fixed (49 sites now pass); s00 really is broken.
	for _, d := range all[1:50] {
		h.setFooter(d, fmt.Sprintf(goodFooter, testICP))
	}
	h.clock.Advance(20 * time.Minute) // past the storm window
	round(180)
	// The daemon's own tick settles held notices too, and may get there
	// first (its first run waits for leadership, a retry for River's
	// backoff): what counts is how the 50 notices end, not which caller
	// settled them.
	rep, err := h.d.engine.SettleHeld(ctx, h.clock.Now())
	if err != nil || rep.Waiting != 0 {
		t.Fatalf("settle: %+v %v; want nothing left waiting", rep, err)
	}
	settled := func(q string) int {
		var n int
		h.d.store.DB().QueryRow(q).Scan(&n)
		return n
	}
	if held := settled(`SELECT COUNT(*) FROM notices WHERE kind = 'owner' AND state = 'held'`); held != 0 {
		t.Fatalf("%d owner notices still held after settling", held)
	}
	if dropped := settled(`SELECT COUNT(*) FROM notices WHERE kind = 'owner' AND state = 'dropped'`); dropped != 49 {
		t.Fatalf("%d owner notices dropped (settle reported %+v); want 49", dropped, rep)
	}
	if released := settled(`SELECT COUNT(*) FROM notices WHERE kind = 'owner' AND state IN ('queued', 'sending', 'delivered')`); released != 1 {
		t.Fatalf("%d owner notices released (settle reported %+v); want 1", released, rep)
	}
	h.waitFor("s00's notice", func() bool { return len(h.received("/owner/")) == 1 })
	if got := h.received("/owner/")[0]; got.Path != "/owner/s00.example.cn" {
		t.Fatalf("released notice went to %s", got.Path)
	}
	var reason string
	h.d.store.DB().QueryRow(`SELECT last_error FROM notices WHERE domain = 's01.example.cn' AND state = 'dropped'`).Scan(&reason)
	if !strings.Contains(reason, "storm") || !strings.Contains(reason, checks.CodeFooterLinkObsolete) {
		t.Errorf("drop reason %q", reason)
	}
	// The 49 resolve on their second passing run; their owners never
	// heard of the opening, so they hear nothing now either.
	round(240)
	h.waitFor("resolutions handled", func() bool {
		var n int
		h.d.store.DB().QueryRow(`SELECT COUNT(*) FROM notices WHERE state IN ('queued', 'sending')`).Scan(&n)
		return n == 0
	})
	time.Sleep(300 * time.Millisecond)
	if got := len(h.received("/owner/")); got != 1 {
		t.Fatalf("%d owner notices in all, want only s00's", got)
	}
	if got := len(h.received("/ops")); got != 1 {
		t.Errorf("%d ops notices, want the one summary", got)
	}
}

// TestDaemonNoticeEndToEnd: a broken fixture site produces exactly one
// "opened" notice, after the threshold and not before; fixing it produces
// one "resolved" notice.
func TestDaemonNoticeEndToEnd(t *testing.T) {
	h := newHarness(t, []fixtureSite{{Domain: "broken.example.cn", Footer: oldFooter}})
	h.start()
	owner := func() []received { return h.received("/owner/broken.example.cn") }
	transition := func(r received) string {
		vs, _ := r.Body["violations"].([]any)
		if len(vs) != 1 {
			return fmt.Sprintf("%d violations", len(vs))
		}
		v := vs[0].(map[string]any)
		return fmt.Sprint(v["code"], " ", v["transition"])
	}
	h.runCheck(checks.CheckFooter, "broken.example.cn")
	time.Sleep(300 * time.Millisecond)
	if got := len(owner()); got != 0 {
		t.Fatalf("%d notices after one failing run (threshold 2)", got)
	}
	h.runCheck(checks.CheckFooter, "broken.example.cn")
	h.waitFor("the opened notice", func() bool { return len(owner()) == 1 })
	if got := transition(owner()[0]); got != "footer_link_obsolete opened" {
		t.Fatalf("first notice: %s", got)
	}
	h.runCheck(checks.CheckFooter, "broken.example.cn") // still broken: nothing new
	h.setFooter("broken.example.cn", fmt.Sprintf(goodFooter, testICP))
	h.runCheck(checks.CheckFooter, "broken.example.cn")
	h.runCheck(checks.CheckFooter, "broken.example.cn")
	h.waitFor("the resolved notice", func() bool { return len(owner()) == 2 })
	time.Sleep(300 * time.Millisecond)
	got := owner()
	if len(got) != 2 || transition(got[1]) != "footer_link_obsolete resolved" {
		t.Fatalf("notices %v", got)
	}
	if got[0].ID == got[1].ID || got[0].ID == "" {
		t.Errorf("notice ids %q and %q", got[0].ID, got[1].ID)
	}
}

// TestEndpointLimits: a DingTalk robot never gets more than 20 messages in
// any minute; slots far off become tickets that keep their place; a
// receiver's Retry-After keeps everyone away until it has passed.
func TestEndpointLimits(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	l := newEndpointLimits(func() time.Time { return now }, nil)
	robot := endpointKey(alerts.ChannelDingTalk, "https://oapi.dingtalk.com/robot/send?access_token=aaaa1111")
	other := endpointKey(alerts.ChannelDingTalk, "https://oapi.dingtalk.com/robot/send?access_token=bbbb2222")
	if robot == other || strings.Contains(robot, "aaaa1111") {
		t.Fatalf("keys %q %q: robots must be told apart without keeping their tokens", robot, other)
	}
	if a, b := endpointKey("webhook", "https://hooks.example.cn/a?t=1"), endpointKey("webhook", "https://HOOKS.example.cn/b"); a != b {
		t.Errorf("one webhook host, two keys: %q %q", a, b)
	}
	var sends []time.Time
	for i := range 100 {
		wait := l.reserve(fmt.Sprintf("n%d", i), alerts.ChannelDingTalk, robot)
		sends = append(sends, now.Add(wait))
	}
	for i := range sends {
		n := 0
		for _, s := range sends[i:] {
			if s.Sub(sends[i]) < time.Minute {
				n++
			}
		}
		if n > 20 {
			t.Fatalf("%d messages within a minute from %s", n, sends[i].Sub(now))
		}
	}
	if last := sends[99].Sub(now); last > 6*time.Minute {
		t.Errorf("100 messages take %s, want about 5m12s at 19 a minute", last)
	}
	// Another robot has its own budget.
	if wait := l.reserve("x", alerts.ChannelDingTalk, other); wait != 0 {
		t.Errorf("a second robot waits %s", wait)
	}
	// A ticket keeps its slot: asking again before it is due gives the
	// same time, and at its time it goes without a new reservation.
	w1 := l.reserve("n50", alerts.ChannelDingTalk, robot)
	if w1 != sends[50].Sub(now) {
		t.Errorf("ticket moved: %s, first given %s", w1, sends[50].Sub(now))
	}
	now = sends[50]
	if w := l.reserve("n50", alerts.ChannelDingTalk, robot); w != 0 {
		t.Errorf("at its ticket's time n50 waits %s", w)
	}
	// Retry-After: blocked for 10 minutes, then paced again.
	l.block(alerts.ChannelSlack, "slack k", now.Add(10*time.Minute))
	if w := l.reserve("s1", alerts.ChannelSlack, "slack k"); w < 10*time.Minute {
		t.Errorf("sent %s into a 10m Retry-After", w)
	}
	if w := l.reserve("s2", alerts.ChannelSlack, "slack k"); w < 10*time.Minute+time.Second-time.Millisecond {
		t.Errorf("second message after the block waits only %s", w)
	}
}

// TestSendSampleNotice: the sample goes through the owner's channel,
// signed, plainly marked as a test; configuration problems are errors
// before anything is sent.
func TestSendSampleNotice(t *testing.T) {
	rcv := newDlvReceiver(t, "owner-secret", nil)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "sites.csv"), "domain,icp,status,entity,owner_channel,owner_url,owner_secret_env\n"+
		"a.example.cn,"+testICP+",filed,测试公司,webhook,"+rcv.srv.URL+"/owner/a.example.cn,OWNER_SECRET\n"+
		"b.example.cn,"+testICP+",filed,测试公司,,,\n")
	writeFile(t, filepath.Join(dir, "bw.yaml"), "inventory: {path: sites.csv}\nallow_private: true\n"+
		"provider: {name: TestCloud, ops_channel: {kind: webhook, url: "+rcv.srv.URL+"/ops, secret_env: OWNER_SECRET}}\n"+
		"dns: {resolvers: [\"127.0.0.1:1\"], authoritative: false}\n")
	cfg, err := config.Load(filepath.Join(dir, "bw.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OWNER_SECRET": "owner-secret"}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	res, err := SendSampleNotice(ctx, cfg, SampleOptions{Domain: "a.example.cn", Getenv: getenv})
	if err != nil || res.Err != nil || res.Attempt.StatusCode != http.StatusNoContent {
		t.Fatalf("sample: %+v %v", res, err)
	}
	reqs := rcv.requests()
	if len(reqs) != 1 || !reqs[0].verified || reqs[0].id != res.NoticeID || !strings.HasPrefix(res.NoticeID, "ntc_test_") {
		t.Fatalf("receiver saw %+v", reqs)
	}
	title, _ := reqs[0].body["title"].(string)
	text, _ := reqs[0].body["text"].(string)
	if !strings.HasPrefix(title, SampleMarker) || !strings.Contains(text, "test notice") || !strings.Contains(fmt.Sprint(reqs[0].body["violations"]), "footer_link_obsolete") {
		t.Errorf("sample not marked as a test: title %q", title)
	}
	if res, err := SendSampleNotice(ctx, cfg, SampleOptions{Ops: true, Getenv: getenv}); err != nil || res.Err != nil || res.Audience != "ops" {
		t.Fatalf("ops sample: %+v %v", res, err)
	}
	if p := rcv.requests()[1]; p.body["kind"] != "ops" || p.body["type"] != "escalation" {
		t.Errorf("ops sample: %v", p.body)
	} else {
		// An escalation says the deadline has passed: the deadline it
		// shows must be in the past, and before it the opening.
		vs, _ := p.body["violations"].([]any)
		v, _ := vs[0].(map[string]any)
		deadline, err1 := time.Parse(time.RFC3339, fmt.Sprint(v["deadline"]))
		opened, err2 := time.Parse(time.RFC3339, fmt.Sprint(v["opened_at"]))
		if err1 != nil || err2 != nil || !deadline.Before(time.Now()) || !opened.Before(deadline) {
			t.Errorf("ops sample: opened %v, deadline %v: an escalation with a deadline not yet passed", v["opened_at"], v["deadline"])
		}
		if text, _ := p.body["text"].(string); !strings.Contains(text, "overdue") {
			t.Errorf("ops sample text does not say overdue:\n%s", text)
		}
	}
	for name, opts := range map[string]SampleOptions{
		"not in the inventory": {Domain: "zzz.example.cn", Getenv: getenv},
		"no owner channel":     {Domain: "b.example.cn", Getenv: getenv},
		"secret not set":       {Domain: "a.example.cn"},
	} {
		if _, err := SendSampleNotice(ctx, cfg, opts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if got := len(rcv.requests()); got != 2 {
		t.Errorf("%d requests; configuration errors must not send", got)
	}
	// A receiver that refuses: attempted, reported, not an error of setup.
	env["OWNER_SECRET"] = "wrong"
	res, err = SendSampleNotice(ctx, cfg, SampleOptions{Domain: "a.example.cn", Getenv: getenv})
	if err != nil || res.Err == nil || res.Attempt.StatusCode != http.StatusUnauthorized {
		t.Fatalf("refused sample: %+v %v", res, err)
	}
}

// BenchmarkEndpointReserve: the pacing every delivery goes through, over
// 1,000 endpoints.
func BenchmarkEndpointReserve(b *testing.B) {
	l := newEndpointLimits(nil, nil)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = endpointKey(alerts.ChannelWebhook, fmt.Sprintf("https://h%d.example.cn/hook", i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.reserve("n", alerts.ChannelWebhook, keys[i%len(keys)])
	}
}
