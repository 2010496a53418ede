package farm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/beianwatch/beianwatch/internal/syncbuf"

	"github.com/miekg/dns"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/beianwatch/beianwatch/alerts"
	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/checks/render"
	"github.com/beianwatch/beianwatch/monitor"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/inventory"
)

func TestMixSumsTo100(t *testing.T) {
	sum := 0
	for _, w := range mix {
		sum += w.Percent
		if _, ok := expectations[w.State]; !ok {
			t.Errorf("state %s has no expectations", w.State)
		}
	}
	if sum != 100 {
		t.Fatalf("mix sums to %d%%, want 100%%", sum)
	}
}

func TestCounts(t *testing.T) {
	for _, n := range []int{1, 7, 15, 30, 1000, 10000, 100001} {
		c := Counts(n)
		total := 0
		for _, w := range mix {
			total += c[w.State]
			if n >= len(mix) && c[w.State] < 1 {
				t.Errorf("n=%d: state %s has no site", n, w.State)
			}
			if n >= 1000 {
				want := float64(n) * float64(w.Percent) / 100
				if d := float64(c[w.State]) - want; d > float64(len(mix))+1 || d < -float64(len(mix))-1 {
					t.Errorf("n=%d: state %s has %d sites, want about %.0f", n, w.State, c[w.State], want)
				}
			}
		}
		if total != n {
			t.Errorf("n=%d: counts sum to %d", n, total)
		}
	}
}

// snapshot flattens a farm for comparison.
func snapshot(f *Farm) []string {
	var out []string
	for _, s := range f.Sites {
		psb := ""
		if s.PSB != nil {
			psb = s.PSB.String()
		}
		out = append(out, fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s|%v|%v|%d", s.Domain, s.State, s.ICP, psb, s.OtherICP,
			s.Entity, s.Mobile, s.Landline, s.Delay, s.Hang, s.Group))
	}
	return out
}

func TestDeterministicForSeed(t *testing.T) {
	opts := Options{Sites: 500, Seed: 42, SlowShare: 0.1, SlowDelay: time.Second, HangShare: 0.3}
	a, err := Generate(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(opts)
	if !reflect.DeepEqual(snapshot(a), snapshot(b)) {
		t.Fatal("the same seed gave two different farms")
	}
	c, _ := Generate(Options{Sites: 500, Seed: 43, SlowShare: 0.1, SlowDelay: time.Second, HangShare: 0.3})
	if reflect.DeepEqual(snapshot(a), snapshot(c)) {
		t.Fatal("seeds 42 and 43 gave the same farm")
	}
	// Slowness is drawn apart from the states: changing it leaves them.
	d, _ := Generate(Options{Sites: 500, Seed: 42})
	for i := range a.Sites {
		if a.Sites[i].State != d.Sites[i].State || a.Sites[i].Domain != d.Sites[i].Domain {
			t.Fatalf("site %d changed state or domain when only the slow share changed", i)
		}
	}
	// Page bytes are deterministic too.
	for i := range a.Sites {
		if !bytes.Equal(a.Sites[i].Page().Body, b.Sites[i].Page().Body) {
			t.Fatalf("site %d: pages differ between two farms of one seed", i)
		}
	}
	tally := a.Tally()
	served := 0
	for _, s := range a.Sites {
		if s.Served() {
			served++
		}
	}
	if want := int(float64(served)*0.1 + 0.5); tally.Slow != want {
		t.Errorf("slow sites: got %d, want %d (10%% of %d served)", tally.Slow, want, served)
	}
	if want := int(float64(tally.Slow)*0.3 + 0.5); tally.Hang != want {
		t.Errorf("hanging sites: got %d, want %d", tally.Hang, want)
	}
	domains := map[string]bool{}
	for _, s := range a.Sites {
		if domains[s.Domain] {
			t.Fatalf("domain %s given twice", s.Domain)
		}
		domains[s.Domain] = true
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{Sites: 0}, {Sites: 10, SlowShare: 1.5}, {Sites: 10, HangShare: -1}, {Sites: 10, Zone: "bad zone"}} {
		if _, err := Generate(o); err == nil {
			t.Errorf("Generate(%+v): no error", o)
		}
	}
}

// startFarm serves a farm and writes its files into a temporary directory.
func startFarm(t *testing.T, opts Options, p ConfigParams) (*Server, Files, *syncbuf.Buffer) {
	t.Helper()
	f, err := Generate(opts)
	if err != nil {
		t.Fatal(err)
	}
	notices := &syncbuf.Buffer{}
	srv, err := Start(f, ServeConfig{Notices: notices})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	files, err := srv.WriteFiles(t.TempDir(), p, "test-api-token")
	if err != nil {
		t.Fatal(err)
	}
	return srv, files, notices
}

// TestExpectedFindingsMatchChecks runs the real checks, built from the
// generated configuration and inventory exactly as the daemon builds them,
// against a sample of every state (and of slow and hanging sites), and
// requires the farm's expectation, outcome and finding codes, for each.
// Every farm site shares one address, so the per-address connection limit
// is raised: otherwise hanging sites hold the few connections allowed and
// their neighbours time out (inconclusive), which is the limiter's
// business, not the verdicts this test is about.
func TestExpectedFindingsMatchChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("serves a farm and runs every check")
	}
	srv, files, _ := startFarm(t,
		Options{Sites: 120, Seed: 7, SlowShare: 0.1, SlowDelay: 300 * time.Millisecond, HangShare: 0.4},
		ConfigParams{Timeout: 4 * time.Second, PerIP: 256})

	cfg, err := config.Load(files.Config)
	if err != nil {
		t.Fatalf("the generated configuration does not load: %v", err)
	}
	inv, lint, err := inventory.Load(files.Inventory)
	if err != nil {
		t.Fatalf("the generated inventory does not load: %v", err)
	}
	if len(lint) > 0 {
		t.Fatalf("the generated inventory has lint errors, first: %v", lint[0])
	}
	if inv.Len() != len(srv.Farm.Sites) {
		t.Fatalf("inventory has %d sites, farm %d", inv.Len(), len(srv.Farm.Sites))
	}
	env := srv.Env("test-api-token")
	built, err := monitor.NewCheckers(cfg, monitor.CheckerOptions{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	defer built.Close()

	sample := srv.Farm.Sample(2)
	seenHang, seenSlow := false, false
	type got struct {
		site  *Site
		check string
		res   checks.Result
	}
	var mu sync.Mutex
	var results []got
	var wg sync.WaitGroup
	ctx := context.Background()
	for _, s := range sample {
		seenHang = seenHang || s.Hang
		seenSlow = seenSlow || (s.Delay > 0 && !s.Hang)
		is := inv.Lookup(s.Domain)
		if is == nil {
			t.Fatalf("%s is not in the inventory", s.Domain)
		}
		for _, name := range checks.AllChecks {
			wg.Go(func() {
				site := is.Site
				r := checks.Run(ctx, built.ByName[name], &site)
				mu.Lock()
				results = append(results, got{s, name, r})
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if !seenHang || !seenSlow {
		t.Fatalf("the sample has no slow (%v) or no hanging (%v) site", seenSlow, seenHang)
	}
	states := map[State]bool{}
	for _, g := range results {
		states[g.site.State] = true
		want := Expect(g.site, g.check)
		var codes []string
		for _, f := range g.res.Findings {
			codes = append(codes, f.Code)
		}
		have := Expectation{Outcome: g.res.Outcome, Codes: SortedCodes(codes)}
		if have.Outcome != want.Outcome || !slices.Equal(have.Codes, want.Codes) {
			t.Errorf("%s (%s, delay %v, hang %v) %s: got %s (reason %q, findings %+v), want %s",
				g.site.Domain, g.site.State, g.site.Delay, g.site.Hang, g.check, have, g.res.Reason, g.res.Findings, want)
		}
	}
	for _, st := range States() {
		if !states[st] {
			t.Errorf("state %s was not sampled", st)
		}
	}
	if c := srv.Counters(); c.PhoneLookups == 0 || c.PhoneDenied != 0 {
		t.Errorf("number-status provider: %d lookups, %d denied; want lookups and no denials", c.PhoneLookups, c.PhoneDenied)
	}
}

func TestDNSAnswers(t *testing.T) {
	srv, _, _ := startFarm(t, Options{Sites: 30, Seed: 1}, ConfigParams{})
	find := func(st State) *Site {
		for _, s := range srv.Farm.Sites {
			if s.State == st {
				return s
			}
		}
		t.Fatalf("no %s site", st)
		return nil
	}
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		addr  string
	}{
		{find(CompliantUTF8).Domain, dns.TypeA, dns.RcodeSuccess, ProviderAddr},
		{"www." + find(CompliantUTF8).Domain, dns.TypeA, dns.RcodeSuccess, ProviderAddr},
		{find(CompliantUTF8).Domain, dns.TypeAAAA, dns.RcodeSuccess, ""},
		{find(OffProvider).Domain, dns.TypeA, dns.RcodeSuccess, OffProviderAddr},
		{find(PendingResolving).Domain, dns.TypeA, dns.RcodeSuccess, ProviderAddr},
		{find(Unresolvable).Domain, dns.TypeA, dns.RcodeNameError, ""},
		{"www." + find(PendingPaused).Domain, dns.TypeA, dns.RcodeNameError, ""},
		{"nosuchsite." + srv.Farm.Opts.Zone, dns.TypeA, dns.RcodeNameError, ""},
		{"example.com", dns.TypeA, dns.RcodeRefused, ""},
	}
	for _, proto := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
		for _, tt := range tests {
			m := new(dns.Msg)
			m.SetQuestion(dns.Fqdn(tt.name), tt.qtype)
			m.RecursionDesired = true
			resp, _, err := c.Exchange(m, srv.DNSAddr)
			if err != nil {
				t.Fatalf("%s %s %s: %v", proto, tt.name, dns.TypeToString[tt.qtype], err)
			}
			if resp.Rcode != tt.rcode {
				t.Errorf("%s %s %s: rcode %s, want %s", proto, tt.name, dns.TypeToString[tt.qtype], dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
			}
			if tt.rcode != dns.RcodeRefused && (!resp.Authoritative || !resp.RecursionAvailable) {
				t.Errorf("%s %s: want AA and RA set so negative answers count as facts", proto, tt.name)
			}
			var addr string
			for _, rr := range resp.Answer {
				if a, ok := rr.(*dns.A); ok {
					addr = a.A.String()
				}
			}
			if addr != tt.addr {
				t.Errorf("%s %s %s: address %q, want %q", proto, tt.name, dns.TypeToString[tt.qtype], addr, tt.addr)
			}
		}
	}
}

func TestPhoneAPI(t *testing.T) {
	srv, _, _ := startFarm(t, Options{Sites: 30, Seed: 3}, ConfigParams{})
	var vacant, ok string
	for _, s := range srv.Farm.Sites {
		switch s.State {
		case PhoneVacant:
			vacant = "+86" + s.Mobile
		case CompliantUTF8:
			ok = "+86" + s.Mobile
		}
	}
	post := func(token, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.PhoneURL, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans struct {
			Status string `json:"status"`
		}
		json.NewDecoder(resp.Body).Decode(&ans)
		return resp.StatusCode, ans.Status
	}
	tests := []struct {
		token, body string
		code        int
		status      string
	}{
		{srv.PhoneToken, `{"number":"` + ok + `"}`, 200, "ok"},
		{srv.PhoneToken, `{"number":"` + vacant + `"}`, 200, "vacant"},
		{srv.PhoneToken, `{"number":"+8613000000000"}`, 200, "unknown"},
		{"wrong", `{"number":"` + ok + `"}`, 401, ""},
		{"", `{"number":"` + ok + `"}`, 401, ""},
		{srv.PhoneToken, `{"nummer":"x"}`, 400, ""},
		{srv.PhoneToken, `not json`, 400, ""},
	}
	for _, tt := range tests {
		code, st := post(tt.token, tt.body)
		if code != tt.code || st != tt.status {
			t.Errorf("token %q body %s: got %d %q, want %d %q", tt.token, tt.body, code, st, tt.code, tt.status)
		}
	}
}

func TestHTTPVirtualHosts(t *testing.T) {
	srv, _, _ := startFarm(t, Options{Sites: 40, Seed: 5, SlowShare: 0.2, SlowDelay: 100 * time.Millisecond, HangShare: 0.5}, ConfigParams{})
	client := &http.Client{Timeout: time.Second}
	get := func(addr, host string) (int, []byte, error) {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s:%d/", addr, srv.HTTPPort), nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, err = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes(), err
	}
	for _, s := range srv.Farm.Sites {
		host := fmt.Sprintf("%s:%d", s.Domain, srv.HTTPPort)
		code, body, err := get(ProviderAddr, host)
		switch {
		case !s.Served():
			if err != nil || code != http.StatusNotFound {
				t.Errorf("%s (%s): got %d %v, want 404", s.Domain, s.State, code, err)
			}
		case s.Hang:
			if err == nil {
				t.Errorf("%s hangs, but the body finished", s.Domain)
			}
		default:
			if err != nil || code != 200 || !bytes.Equal(body, s.Page().Body) {
				t.Errorf("%s (%s): got %d %v, want 200 and its page", s.Domain, s.State, code, err)
			}
		}
	}
	// The off-provider address serves the same sites.
	for _, s := range srv.Farm.Sites {
		if s.State == OffProvider && !s.Hang {
			if code, _, err := get(OffProviderAddr, s.Domain); err != nil || code != 200 {
				t.Errorf("%s on %s: %d %v", s.Domain, OffProviderAddr, code, err)
			}
		}
	}
	// Close releases hanging responses promptly.
	start := time.Now()
	srv.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
}

func TestReceiver(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	rc := NewReceiver(map[string]string{"/hook/0": "s3cret"}, &out, func() time.Time { return now })
	body := []byte(`{"id":"n-1","kind":"owner","type":"rectification","site":{"domain":"a.farm.test","icp":"京ICP备12345678号-1","entity":"甲公司"},` +
		`"violations":[{"code":"footer_link_obsolete","transition":"opened","title":"备案号链接指向已停用的地址","fix":"链接到 https://beian.miit.gov.cn/","deadline":"2026-05-08T10:00:00Z"}],"language":"zh"}`)
	ts := fmt.Sprint(now.Unix())
	good := alerts.SignWebhook("s3cret", now.Unix(), body)
	tests := []struct {
		name, path, ts, sig string
		body                []byte
		code                int
	}{
		{"good", "/hook/0", ts, good, body, 200},
		{"duplicate", "/hook/0", ts, good, body, 200},
		{"wrong secret", "/hook/0", ts, alerts.SignWebhook("other", now.Unix(), body), body, 401},
		{"body changed", "/hook/0", ts, good, append([]byte(" "), body...), 401},
		{"timestamp changed", "/hook/0", fmt.Sprint(now.Unix() + 1), good, body, 401},
		{"no signature", "/hook/0", ts, "", body, 401},
		{"not hex", "/hook/0", ts, "sha256=zz", body, 401},
		{"stale", "/hook/0", fmt.Sprint(now.Add(-time.Hour).Unix()), alerts.SignWebhook("s3cret", now.Add(-time.Hour).Unix(), body), body, 401},
		{"unknown path", "/hook/9", ts, good, body, 404},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodPost, "http://farm"+tt.path, bytes.NewReader(tt.body))
		req.Header.Set(headerTimestamp, tt.ts)
		if tt.sig != "" {
			req.Header.Set(headerSignature, tt.sig)
		}
		req.Header.Set(headerNoticeID, "n-1")
		rec := newRecorder()
		rc.ServeHTTP(rec, req)
		if rec.code != tt.code {
			t.Errorf("%s: status %d, want %d", tt.name, rec.code, tt.code)
		}
	}
	st := rc.Stats()
	if st.Notices != 1 || st.Duplicates != 1 || st.BadSignature != 6 {
		t.Errorf("stats %+v: want 1 notice, 1 duplicate, 6 bad signatures", st)
	}
	if st.Transitions["opened"] != 1 || st.Codes["footer_link_obsolete"] != 1 || st.Domains["a.farm.test"] != 1 {
		t.Errorf("stats %+v: want the opened footer_link_obsolete of a.farm.test counted", st)
	}
	// The fault trials read arrivals: every verified one, repeats marked,
	// rejected ones left out.
	arr := rc.Arrivals()
	if len(arr) != 2 || arr[0].ID != "n-1" || arr[0].Repeat || !arr[1].Repeat || arr[0].Domain != "a.farm.test" ||
		!slices.Equal(arr[0].Changes, []string{"footer_link_obsolete/opened"}) || !arr[0].At.Equal(now) {
		t.Errorf("arrivals %+v", arr)
	}
	printed := out.String()
	for _, want := range []string{"新增违规", "footer_link_obsolete", "a.farm.test", "整改期限: 2026-05-08 18:00", "签名校验失败"} {
		if !strings.Contains(printed, want) {
			t.Errorf("printed notices lack %q:\n%s", want, printed)
		}
	}
}

type recorder struct {
	h    http.Header
	code int
}

func newRecorder() *recorder                    { return &recorder{h: http.Header{}} }
func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(c int) {
	if r.code == 0 {
		r.code = c
	}
}

func TestWriteFiles(t *testing.T) {
	srv, files, _ := startFarm(t, Options{Sites: 20, Seed: 9}, ConfigParams{Listen: "127.0.0.1:9999"})
	env, err := os.ReadFile(files.Env)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(files.Env); fi.Mode().Perm() != 0o600 {
		t.Errorf("farm.env mode %v, want 0600", fi.Mode().Perm())
	}
	cfgText, _ := os.ReadFile(files.Config)
	if strings.Contains(string(cfgText), srv.PhoneToken) || strings.Contains(string(cfgText), srv.OpsSecret) {
		t.Error("a secret leaked into the configuration file")
	}
	if !strings.Contains(string(env), "export "+EnvPhoneToken+"='"+srv.PhoneToken+"'") {
		t.Errorf("farm.env lacks the phone token export:\n%s", env)
	}
	cfg, err := config.Load(files.Config)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9999" || cfg.Inventory.Path != filepath.Join(files.Dir, "sites.csv") || cfg.DNS.Resolvers[0] != srv.DNSAddr {
		t.Errorf("config: listen %s, inventory %s, resolvers %v", cfg.Listen, cfg.Inventory.Path, cfg.DNS.Resolvers)
	}
}

func TestGBKPageRoundTrips(t *testing.T) {
	f, err := Generate(Options{Sites: 200, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range f.Sites {
		if s.State != CompliantGBK {
			continue
		}
		n++
		p := s.Page()
		dec, err := simplifiedchinese.GBK.NewDecoder().Bytes(p.Body)
		if err != nil {
			t.Fatalf("%s: GBK page does not decode: %v", s.Domain, err)
		}
		if !strings.Contains(string(dec), s.ICP.String()) || !strings.Contains(string(dec), s.Entity) {
			t.Errorf("%s: decoded GBK page lacks the filing number or the entity:\n%s", s.Domain, dec)
		}
		if utf8.Valid(p.Body) {
			t.Errorf("%s: a GBK page that is valid UTF-8 tests nothing", s.Domain)
		}
	}
	if n == 0 {
		t.Fatal("no GBK site")
	}
}

// A farm closed the moment it starts must stop: miekg/dns servers that are
// shut down before they mark themselves started otherwise serve forever.
func TestCloseRightAfterStart(t *testing.T) {
	f, err := Generate(Options{Sites: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		srv, err := Start(f, ServeConfig{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { srv.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatalf("round %d: Close did not return", i)
		}
	}
}

// TestScriptedFootersNeedABrowser: a farm site whose footer a script draws
// is inconclusive (needs_rendering) without a browser and, rendered in
// Chromium, gets its state's verdict: the farm's share of such sites is
// what the demo and the bench render.
func TestScriptedFootersNeedABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("serves a farm and renders pages")
	}
	srv, files, _ := startFarm(t, Options{Sites: 40, Seed: 3, ScriptShare: 1}, ConfigParams{Timeout: 4 * time.Second, PerIP: 64})
	cfg, err := config.Load(files.Config)
	if err != nil {
		t.Fatal(err)
	}
	inv, _, err := inventory.Load(files.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	env := srv.Env("test-api-token")
	getenv := func(k string) string { return env[k] }
	never := *cfg
	never.Render.Enabled = "never"
	static, err := monitor.NewCheckers(&never, monitor.CheckerOptions{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	defer static.Close()
	_, haveBrowser := render.FindBrowser()
	if !haveBrowser && os.Getenv("BEIANWATCH_REQUIRE_INTEGRATION") != "" {
		t.Fatal("BEIANWATCH_REQUIRE_INTEGRATION is set but no Chromium is on PATH")
	}
	rendered, err := monitor.NewCheckers(cfg, monitor.CheckerOptions{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	defer rendered.Close()
	scripted := 0
	for _, s := range srv.Farm.Sample(1) {
		if !s.Scripted {
			continue
		}
		scripted++
		site := inv.Lookup(s.Domain).Site
		r := checks.Run(context.Background(), static.ByName[checks.CheckFooter], &site)
		if want := ExpectStatic(s, checks.CheckFooter); r.Outcome != want.Outcome || r.Reason != checks.ReasonNeedsRendering {
			t.Errorf("%s (%s) static: %s (%s), want %s (needs_rendering)", s.Domain, s.State, r.Outcome, r.Reason, want)
		}
		if !haveBrowser {
			continue
		}
		r = checks.Run(context.Background(), rendered.ByName[checks.CheckFooter], &site)
		var codes []string
		for _, f := range r.Findings {
			codes = append(codes, f.Code)
		}
		want := Expect(s, checks.CheckFooter)
		if r.Outcome != want.Outcome || !slices.Equal(SortedCodes(codes), want.Codes) || r.Details["rendered"] != "true" {
			t.Errorf("%s (%s) rendered: %s %v (reason %q, details %v), want %s", s.Domain, s.State, r.Outcome, codes, r.Reason, r.Details, want)
		}
	}
	if scripted < 8 {
		t.Fatalf("only %d scripted sites sampled", scripted)
	}
	if !haveBrowser {
		t.Skip("no Chromium on PATH: rendered verdicts not checked; set BEIANWATCH_REQUIRE_INTEGRATION=1 to make this a failure")
	}
}

// A slow receiver holds each request for its delay; a client that gives
// up first is not counted.
func TestReceiverDelay(t *testing.T) {
	rc := NewReceiver(map[string]string{"/hook/0": "s"}, io.Discard, nil)
	rc.SetDelay(300 * time.Millisecond)
	body := []byte(`{"id":"n-2","kind":"owner"}`)
	post := func(ctx context.Context) (int, time.Duration) {
		now := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://farm/hook/0", bytes.NewReader(body))
		req.Header.Set(headerTimestamp, fmt.Sprint(now.Unix()))
		req.Header.Set(headerSignature, alerts.SignWebhook("s", now.Unix(), body))
		rec := newRecorder()
		rc.ServeHTTP(rec, req)
		return rec.code, time.Since(now)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if code, _ := post(ctx); code != 0 || len(rc.Arrivals()) != 0 {
		t.Errorf("a request abandoned during the delay was answered (%d) or counted (%d)", code, len(rc.Arrivals()))
	}
	if code, took := post(context.Background()); code != 200 || took < 300*time.Millisecond || len(rc.Arrivals()) != 1 {
		t.Errorf("slow receiver: status %d after %v, %d arrivals", code, took, len(rc.Arrivals()))
	}
}

// SetDNSFailing makes the farm DNS answer SERVFAIL to every query, as a
// broken resolver does, until it is turned off.
func TestDNSFailing(t *testing.T) {
	f, err := Generate(Options{Sites: 10, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Start(f, ServeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var site *Site
	for _, s := range f.Sites {
		if s.Resolves() {
			site = s
			break
		}
	}
	ask := func() int {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(site.Domain), dns.TypeA)
		r, err := dns.Exchange(m, srv.DNSAddr)
		if err != nil {
			t.Fatal(err)
		}
		return r.Rcode
	}
	for _, step := range []struct {
		failing bool
		want    int
	}{{false, dns.RcodeSuccess}, {true, dns.RcodeServerFailure}, {false, dns.RcodeSuccess}} {
		srv.SetDNSFailing(step.failing)
		if got := ask(); got != step.want {
			t.Errorf("failing=%v: rcode %s, want %s", step.failing, dns.RcodeToString[got], dns.RcodeToString[step.want])
		}
	}
}
