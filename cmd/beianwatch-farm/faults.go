package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	_ "modernc.org/sqlite" // integrity_check of each trial's database

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/farm"
	"github.com/beianwatch/beianwatch/monitor/entity"
)

// cmdFaults runs fault trials against the real binaries: a farm, and
// `beianwatch run` as a child process, killed with SIGKILL mid-work, fed an
// inventory rewritten in place, cut off from its resolver and slowed down
// by its receiver. Every trial starts from an empty database, so each
// trial's expected notices are the farm's: one "opened" change per
// (site, violation code) the farm is built to show. The receiver verifies
// every signature and records every arrival.
//
// Per trial and in total it prints:
//
//   - lost: an expected change never received although the daemon holds
//     nothing that will still send it (its notice delivered, dead or
//     dropped, or an open violation with no notice carrying it);
//   - duplicate: an expected change received under two or more notice ids
//     (a logical duplicate; a retry of the same id is "redelivered" and
//     harmless: receivers deduplicate on the id);
//   - late: received more than --late after the later of the daemon's last
//     (re)start and the end of the trial's fault, or not received within
//     --window of that moment while still pending in the daemon;
//   - unexpected: a change received that the farm does not call for (a
//     false notice), or one received while the fault should have held it;
//   - unsettled: notices the daemon still holds as queued or sending when
//     the trial ends (a send cut off by the kill that the receiver did get
//     waits there for the job queue's rescue, and is then sent again).
//
// The exit status is 1 when anything was lost, duplicated or unexpected,
// or a database failed integrity_check; late notices are reported, not
// failed on (see --fail-late).
func cmdFaults(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("faults", pflag.ContinueOnError)
	var ff farmFlags
	ff.register(fs, 30, 0, filepath.Join("data", "faults"))
	bin := fs.String("beianwatch", filepath.Join("bin", "beianwatch"), "the beianwatch binary")
	trials := fs.Int("trials", 10, "number of kill -9 trials")
	scenarios := fs.Bool("scenarios", true, "also run the inventory-rewrite, resolver-failure and slow-receiver trials")
	late := fs.Duration("late", 60*time.Second, "a change is late when it arrives more than this after the daemon's last (re)start or the fault's end")
	window := fs.Duration("window", 0, "how long a trial waits for its changes after the last (re)start or the fault's end (default --late + 30s)")
	faultFor := fs.Duration("fault-for", 20*time.Second, "how long the resolver failure and the slow receiver last")
	failLate := fs.Bool("fail-late", false, "exit 1 when a change is late")
	out := fs.String("out", "", "write the figures as JSON here")
	if ok, code := parse(fs, args, stderr); !ok {
		return code
	}
	if *window <= 0 {
		*window = *late + 30*time.Second
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "beianwatch-farm faults: %v\n", err)
		return 1
	}
	if _, err := os.Stat(*bin); err != nil {
		return fail(fmt.Errorf("the daemon binary %s: %w (run make build)", *bin, err))
	}
	f, err := farm.Generate(ff.options())
	if err != nil {
		return fail(err)
	}
	srv, err := farm.Start(f, farm.ServeConfig{})
	if err != nil {
		return fail(err)
	}
	defer srv.Close()

	h := &faultHarness{
		ctx: ctx, bin: *bin, farm: f, srv: srv, base: ff.dir, late: *late, window: *window,
		faultFor: *faultFor, out: stdout, rng: rand.New(rand.NewPCG(ff.seed, 0x6661756c74)),
		expected: expectedChanges(f),
	}
	fmt.Fprintf(stdout, "faults: %d sites, %d expected \"opened\" changes per trial; late = more than %s after the daemon's last (re)start or the fault's end; window %s\n",
		len(f.Sites), len(h.expected), *late, *window)

	var plan []string
	for range *trials {
		plan = append(plan, "kill9")
	}
	if *scenarios {
		plan = append(plan, "inventory-rewrite", "resolver-failure", "slow-receiver")
	}
	var results []trialResult
	for i, kind := range plan {
		if ctx.Err() != nil {
			break
		}
		r, err := h.trial(i+1, kind)
		if err != nil {
			return fail(fmt.Errorf("trial %d (%s): %w", i+1, kind, err))
		}
		fmt.Fprintln(stdout, r.line())
		results = append(results, r)
	}
	sum := summarize(results)
	fmt.Fprintln(stdout, sum.totalLine())
	if *out != "" {
		b, _ := json.MarshalIndent(struct {
			Sites    int           `json:"sites"`
			Expected int           `json:"expected_per_trial"`
			Late     string        `json:"late_threshold"`
			Window   string        `json:"window"`
			Total    trialResult   `json:"total"`
			Trials   []trialResult `json:"trials"`
		}{len(f.Sites), len(h.expected), late.String(), window.String(), sum, results}, "", "  ")
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return fail(err)
		}
	}
	if sum.Lost > 0 || sum.Duplicate > 0 || sum.Unexpected > 0 || sum.IntegrityFailed > 0 || (*failLate && sum.Late > 0) {
		return 1
	}
	return 0
}

// expectedChanges is the set of "domain code" every trial must deliver as
// "opened": the violations the farm's sites are built to show.
func expectedChanges(f *farm.Farm) map[string]bool {
	out := map[string]bool{}
	for _, s := range f.Sites {
		for _, check := range checks.AllChecks {
			e := farm.Expect(s, check)
			if e.Outcome != checks.Fail {
				continue
			}
			for _, code := range e.Codes {
				out[s.Domain+" "+code] = true
			}
		}
	}
	// The farm's one empty-shell entity: its finding is recorded on the
	// first of the entity's shell sites in domain order (all of its sites
	// are shells).
	if k := f.EmptyShellEntity; k != "" {
		first := ""
		for _, s := range f.Sites {
			if s.ICP.Entity().String() == k && (first == "" || s.Domain < first) {
				first = s.Domain
			}
		}
		if first != "" {
			out[first+" "+entity.CodeEmptyShell] = true
		}
	}
	return out
}

type faultHarness struct {
	ctx      context.Context
	bin      string
	farm     *farm.Farm
	srv      *farm.Server
	base     string
	late     time.Duration
	window   time.Duration
	faultFor time.Duration
	out      io.Writer
	rng      *rand.Rand
	expected map[string]bool
}

// trialResult is one trial's figures (or, summed, all of them).
type trialResult struct {
	N               int     `json:"n,omitempty"`
	Kind            string  `json:"kind"`
	Fault           string  `json:"fault,omitempty"`
	Expected        int     `json:"expected"`
	OnTime          int     `json:"on_time"`
	Late            int     `json:"late"`
	Undelivered     int     `json:"undelivered_at_window_end"`
	Lost            int     `json:"lost"`
	Duplicate       int     `json:"duplicate"`
	Redelivered     int     `json:"redelivered"`
	Unexpected      int     `json:"unexpected"`
	Unsettled       int     `json:"unsettled_notices_at_end"`
	MaxLatency      float64 `json:"max_latency_s"`
	IntegrityFailed int     `json:"integrity_failed"`
	Seconds         float64 `json:"seconds"`
	Trials          int     `json:"trials,omitempty"`
}

func (r trialResult) line() string {
	return fmt.Sprintf("trial %2d %-17s %-44s expected %d: on time %d, late %d (undelivered %d), lost %d, duplicate %d, redelivered %d, unexpected %d, unsettled %d; slowest %.1fs; integrity %s; %.0fs",
		r.N, r.Kind, r.Fault, r.Expected, r.OnTime, r.Late, r.Undelivered, r.Lost, r.Duplicate, r.Redelivered, r.Unexpected, r.Unsettled, r.MaxLatency,
		map[bool]string{true: "ok", false: "FAILED"}[r.IntegrityFailed == 0], r.Seconds)
}

func summarize(rs []trialResult) trialResult {
	t := trialResult{Kind: "total", Trials: len(rs)}
	for _, r := range rs {
		t.Expected += r.Expected
		t.OnTime += r.OnTime
		t.Late += r.Late
		t.Undelivered += r.Undelivered
		t.Lost += r.Lost
		t.Duplicate += r.Duplicate
		t.Redelivered += r.Redelivered
		t.Unexpected += r.Unexpected
		t.Unsettled += r.Unsettled
		t.IntegrityFailed += r.IntegrityFailed
		t.MaxLatency = max(t.MaxLatency, r.MaxLatency)
		t.Seconds += r.Seconds
	}
	return t
}

func (t trialResult) totalLine() string {
	return fmt.Sprintf("faults: %d trials, %d expected changes: lost %d, duplicate %d, late %d (undelivered at window end %d), on time %d; redelivered %d (same id), unexpected %d; notices unsettled at trial end %d; slowest %.1fs; integrity_check failed %d; %.0fs",
		t.Trials, t.Expected, t.Lost, t.Duplicate, t.Late, t.Undelivered, t.OnTime, t.Redelivered, t.Unexpected, t.Unsettled, t.MaxLatency, t.IntegrityFailed, t.Seconds)
}

// daemonProc is one `beianwatch run` child.
type daemonProc struct {
	cmd     *exec.Cmd
	exited  chan error
	started time.Time
}

// trialEnv is one trial's files and running state.
type trialEnv struct {
	h       *faultHarness
	dir     string
	files   farm.Files
	listen  string
	token   string
	env     []string
	log     *os.File
	proc    *daemonProc
	starts  []time.Time // every spawn of the daemon
	liftAt  time.Time   // when the trial's fault ended (or the trial began)
	began   time.Time
	arrived int // arrivals before the trial began
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (h *faultHarness) trial(n int, kind string) (trialResult, error) {
	dir := filepath.Join(h.base, fmt.Sprintf("trial-%02d-%s", n, kind))
	if err := os.RemoveAll(dir); err != nil {
		return trialResult{}, err
	}
	listen, err := freeAddr()
	if err != nil {
		return trialResult{}, err
	}
	te := &trialEnv{h: h, dir: dir, listen: listen, token: randomToken(), began: time.Now(), arrived: len(h.srv.Receiver.Arrivals())}
	// One check pass every 5s, violations open on the first failure,
	// retries within seconds: a trial's whole wave takes a few seconds
	// on a healthy daemon, so anything slower is the fault's doing.
	te.files, err = h.srv.WriteFiles(dir, farm.ConfigParams{
		Listen: listen, Schedule: "@every 5s", FailAfter: 1, StormShare: 0.9, Concurr: 8,
		Timeout: 5 * time.Second, RetryFirst: 2 * time.Second, RetryMax: 10 * time.Second, LogLevel: "info",
		// The storm guard's settle time, shortened like the rest: "opened"
		// notices wait 5s before they may go (the default is 2m).
		StormSettle: "5s",
	}, te.token)
	if err != nil {
		return trialResult{}, err
	}
	te.env = os.Environ()
	for k, v := range h.srv.Env(te.token) {
		te.env = append(te.env, k+"="+v)
	}
	if te.log, err = os.Create(filepath.Join(dir, "daemon.log")); err != nil {
		return trialResult{}, err
	}
	defer te.log.Close()
	te.liftAt = time.Now()

	res := trialResult{N: n, Kind: kind, Expected: len(h.expected)}
	var held map[string]bool // changes that must not arrive before liftAt
	switch kind {
	case "kill9":
		// A receiver that takes its time (1.5s a notice, well inside the
		// 5s delivery timeout), so that sends are in flight for a while.
		h.srv.Receiver.SetDelay(1500 * time.Millisecond)
		if err := te.start(); err != nil {
			return res, err
		}
		at, mid := time.Duration(0), n%2 == 0
		if mid {
			// Every other trial: the moment a notice is being sent.
			for at = 0; at < 20*time.Second && h.srv.Receiver.InFlight() == 0; at += 20 * time.Millisecond {
				if !h.sleep(20 * time.Millisecond) {
					return res, h.ctx.Err()
				}
			}
			// Somewhere inside the 1.5s the receiver holds it.
			d := time.Duration(h.rng.IntN(1200)) * time.Millisecond
			h.sleep(d)
			at += d
		} else {
			// Else anywhere in the first wave (about 3-9s after start):
			// while checks run, while notices are sent, or after.
			at = time.Duration(2000+h.rng.IntN(8000)) * time.Millisecond
			if !h.sleep(at) {
				return res, h.ctx.Err()
			}
		}
		got, inflight := te.received(), h.srv.Receiver.InFlight()
		te.proc.cmd.Process.Signal(syscall.SIGKILL)
		<-te.proc.exited
		res.Fault = fmt.Sprintf("SIGKILL at %.1fs, %d received, %d in flight", at.Seconds(), len(got), inflight)
		if err := te.start(); err != nil {
			return res, err
		}
	case "inventory-rewrite":
		if err := te.start(); err != nil {
			return res, err
		}
		h.sleep(2 * time.Second)
		// The export script that rewrites the CSV in place: two fifths,
		// a pause, the rest.
		data, err := os.ReadFile(te.files.Inventory)
		if err != nil {
			return res, err
		}
		fh, err := os.OpenFile(te.files.Inventory, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return res, err
		}
		cut := len(data) * 2 / 5
		fh.Write(data[:cut])
		h.sleep(2 * time.Second)
		fh.Write(data[cut:])
		fh.Close()
		res.Fault = "in place, 2s pause at 40%"
	case "resolver-failure":
		h.srv.SetDNSFailing(true)
		// While our resolver fails, only what needs no DNS may open:
		// the contact check's (the number-status provider is an
		// address).
		held = map[string]bool{}
		for k := range h.expected {
			if !strings.Contains(k, " contact_") {
				held[k] = true
			}
		}
		if err := te.start(); err != nil {
			h.srv.SetDNSFailing(false)
			return res, err
		}
		h.sleep(h.faultFor)
		h.srv.SetDNSFailing(false)
		te.liftAt = time.Now()
		res.Fault = fmt.Sprintf("SERVFAIL for %s", h.faultFor)
	case "slow-receiver":
		// Slower than the delivery timeout (5s): every attempt times
		// out, then merely slow.
		h.srv.Receiver.SetDelay(7 * time.Second)
		if err := te.start(); err != nil {
			h.srv.Receiver.SetDelay(0)
			return res, err
		}
		h.sleep(h.faultFor)
		h.srv.Receiver.SetDelay(2 * time.Second)
		te.liftAt = time.Now()
		res.Fault = fmt.Sprintf("7s for %s, then 2s", h.faultFor)
	default:
		return res, fmt.Errorf("unknown trial kind %q", kind)
	}

	// Wait for the whole wave, or the window.
	from := te.liftAt
	if last := te.starts[len(te.starts)-1]; last.After(from) {
		from = last
	}
	deadline := from.Add(h.window)
	for time.Now().Before(deadline) && h.ctx.Err() == nil {
		if te.complete() {
			h.sleep(2 * time.Second) // late repeats
			break
		}
		h.sleep(250 * time.Millisecond)
	}
	if err := te.classify(&res, held); err != nil {
		te.stop()
		return res, err
	}
	te.stop()
	h.srv.Receiver.SetDelay(0)
	if err := integrityCheck(filepath.Join(dir, "data", "beianwatch.db")); err != nil {
		fmt.Fprintf(h.out, "trial %d: %v\n", n, err)
		res.IntegrityFailed = 1
	}
	res.Seconds = time.Since(te.began).Seconds()
	return res, nil
}

func (h *faultHarness) sleep(d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-h.ctx.Done():
		return false
	}
}

func (te *trialEnv) start() error {
	cmd := exec.Command(te.h.bin, "run", "--config", te.files.Config)
	cmd.Env = te.env
	cmd.Stdout, cmd.Stderr = te.log, te.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &daemonProc{cmd: cmd, exited: make(chan error, 1), started: time.Now()}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the daemon: %w", err)
	}
	go func() { p.exited <- cmd.Wait() }()
	te.proc = p
	te.starts = append(te.starts, p.started)
	if !waitHealthy(te.h.ctx, "http://"+te.listen+"/healthz", 30*time.Second) {
		cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("the daemon did not come up within 30s (see %s)", te.log.Name())
	}
	return nil
}

func (te *trialEnv) stop() {
	p := te.proc
	if p == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(45 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	te.proc = nil
}

// received is this trial's arrivals.
func (te *trialEnv) received() []farm.Arrival {
	return te.h.srv.Receiver.Arrivals()[te.arrived:]
}

// complete says whether every expected change has arrived.
func (te *trialEnv) complete() bool {
	got := map[string]bool{}
	for _, a := range te.received() {
		for _, c := range a.Changes {
			if code, ok := strings.CutSuffix(c, "/opened"); ok {
				got[a.Domain+" "+code] = true
			}
		}
	}
	for k := range te.h.expected {
		if !got[k] {
			return false
		}
	}
	return true
}

// startBefore is the last spawn of the daemon at or before t.
func (te *trialEnv) startBefore(t time.Time) time.Time {
	s := te.starts[0]
	for _, st := range te.starts {
		if !st.After(t) {
			s = st
		}
	}
	return s
}

type apiNotice struct {
	ID      string `json:"id"`
	Domain  string `json:"domain"`
	State   string `json:"state"`
	Payload struct {
		Transitions []struct {
			Code string `json:"code"`
			Kind string `json:"kind"`
		} `json:"transitions"`
	} `json:"payload"`
}

type apiViolation struct {
	Domain string `json:"domain"`
	Code   string `json:"code"`
	Status string `json:"status"`
}

func (te *trialEnv) getAll(path string, into func(json.RawMessage) error) error {
	c := &http.Client{Timeout: 10 * time.Second}
	for offset := 0; ; offset += 1000 {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s%s%slimit=1000&offset=%d", te.listen, path, sep, offset), nil)
		req.Header.Set("Authorization", "Bearer "+te.token)
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		var page struct {
			Items []json.RawMessage `json:"items"`
			Total int               `json:"total"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		for _, it := range page.Items {
			if err := into(it); err != nil {
				return err
			}
		}
		if offset+len(page.Items) >= page.Total || len(page.Items) == 0 {
			return nil
		}
	}
}

// classify counts the trial's figures from what the receiver got and,
// for what it did not get, from what the daemon still holds.
func (te *trialEnv) classify(res *trialResult, held map[string]bool) error {
	first := map[string]farm.Arrival{}
	ids := map[string]map[string]bool{}
	for _, a := range te.received() {
		// The owner hears of each change once; the ops channel's copies
		// (an empty-shell entity's summary) are not owner notices.
		if a.Kind == "ops" {
			continue
		}
		if a.Repeat {
			res.Redelivered++
		}
		for _, c := range a.Changes {
			code, ok := strings.CutSuffix(c, "/opened")
			if !ok {
				continue
			}
			k := a.Domain + " " + code
			if !te.h.expected[k] {
				res.Unexpected++
				continue
			}
			if held[k] && a.At.Before(te.liftAt) {
				res.Unexpected++ // sent while the fault should have held it
			}
			if ids[k] == nil {
				ids[k] = map[string]bool{}
			}
			if !ids[k][a.ID] && len(ids[k]) > 0 {
				res.Duplicate++
			}
			ids[k][a.ID] = true
			if _, seen := first[k]; !seen {
				first[k] = a
			}
		}
	}

	stored := map[string][]apiNotice{}
	err := te.getAll("/api/v1/notices", func(raw json.RawMessage) error {
		var n apiNotice
		if err := json.Unmarshal(raw, &n); err != nil {
			return err
		}
		// Still to be (re)sent although the trial's changes are in: a
		// notice cut off mid-send that waits for River's rescue, or one
		// retrying.
		if n.State == "queued" || n.State == "sending" {
			res.Unsettled++
		}
		for _, t := range n.Payload.Transitions {
			if t.Kind == "opened" {
				stored[n.Domain+" "+t.Code] = append(stored[n.Domain+" "+t.Code], n)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	open := map[string]bool{}
	err = te.getAll("/api/v1/violations?state=open,escalated", func(raw json.RawMessage) error {
		var v apiViolation
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		open[v.Domain+" "+v.Code] = true
		return nil
	})
	if err != nil {
		return err
	}

	for k := range te.h.expected {
		if a, ok := first[k]; ok {
			from := te.startBefore(a.At)
			if te.liftAt.After(from) {
				from = te.liftAt
			}
			lat := a.At.Sub(from)
			res.MaxLatency = max(res.MaxLatency, lat.Seconds())
			if lat > te.h.late {
				res.Late++
			} else {
				res.OnTime++
			}
			continue
		}
		pending := false
		for _, n := range stored[k] {
			if n.State == "queued" || n.State == "sending" || n.State == "held" {
				pending = true
			}
		}
		switch {
		case pending:
			// The daemon still holds it: it will go, but not in time.
			res.Late++
			res.Undelivered++
		case len(stored[k]) == 0 && !open[k]:
			// Not recorded yet: its check has not run (or was cut off
			// and waits to be run again).
			res.Late++
			res.Undelivered++
		default:
			// Delivered, dead or dropped by the daemon's account, or an
			// open violation whose notice vanished: the owner was not
			// told and nothing will tell them.
			res.Lost++
			fmt.Fprintf(te.h.out, "  lost: %s (notices %v, open %v)\n", k, stored[k], open[k])
		}
	}
	return nil
}

// integrityCheck runs SQLite's integrity_check on a trial's database.
func integrityCheck(path string) error {
	db, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		return fmt.Errorf("integrity_check %s: %w", path, err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("integrity_check %s: %w", path, err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity_check %s: %s", path, res)
	}
	return nil
}
