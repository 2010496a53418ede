package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Target is one site as blackbox_exporter probes it.
type Target struct {
	Domain string // sent as the Host header (the exporter's hostname parameter)
	Addr   string // the address the site's DNS gives; "" when it does not resolve
}

// Blackbox describes one blackbox_exporter run over a farm.
type Blackbox struct {
	Binary      string
	Dir         string // where blackbox.yml goes
	Targets     []Target
	HTTPPort    int    // the farm's site port
	DNSServer   string // the farm's DNS, host:port
	Concurrency int
	Timeout     time.Duration // per probe
	Scenario    string
	// Log receives the exporter's output; nil discards it.
	Log io.Writer
}

// FilingNumberRegexp is what the http module looks for: any ICP filing
// number. A blackbox module is static, so it cannot look for the site's own
// number, decode GBK, or tell a link from plain text.
const FilingNumberRegexp = `(京|津|沪|渝|冀|豫|云|滇|辽|黑|湘|皖|鲁|新|苏|浙|赣|鄂|桂|甘|陇|晋|蒙|陕|吉|闽|贵|黔|粤|青|藏|川|蜀|宁|琼)ICP备[0-9]{6,10}号`

// WriteConfig writes blackbox.yml: one http module, and one dns module per
// site, because a dns module's query name is fixed in the configuration
// (the exporter takes no query name per probe).
func (b Blackbox) WriteConfig(w io.Writer) error {
	bw := bufio.NewWriter(w)
	timeout := b.timeout()
	fmt.Fprintf(bw, "modules:\n  http_footer:\n    prober: http\n    timeout: %s\n    http:\n", timeout)
	fmt.Fprintf(bw, "      preferred_ip_protocol: ip4\n      ip_protocol_fallback: false\n      follow_redirects: true\n")
	fmt.Fprintf(bw, "      fail_if_body_not_matches_regexp:\n        - %q\n", FilingNumberRegexp)
	for i, t := range b.Targets {
		fmt.Fprintf(bw, "  dns_%d:\n    prober: dns\n    timeout: %s\n    dns:\n      query_name: %q\n      query_type: A\n", i, timeout, t.Domain)
		fmt.Fprintf(bw, "      preferred_ip_protocol: ip4\n      ip_protocol_fallback: false\n      recursion_desired: true\n      valid_rcodes: [NOERROR]\n")
	}
	return bw.Flush()
}

func (b Blackbox) timeout() time.Duration {
	if b.Timeout <= 0 {
		return 5 * time.Second
	}
	return b.Timeout
}

// probeURLs are the two /probe requests for target i.
func (b Blackbox) probeURLs(base string, i int) (httpProbe, dnsProbe string) {
	t := b.Targets[i]
	addr := t.Addr
	if addr == "" {
		// What a provider's exporter gets for a name that does not
		// resolve is a failed probe; asking the farm without the name's
		// address gives the same failure without sending the name to the
		// machine's real resolver.
		addr = "127.0.0.1"
	}
	port := strconv.Itoa(b.HTTPPort)
	q := url.Values{"module": {"http_footer"}, "target": {"http://" + net.JoinHostPort(addr, port) + "/"},
		"hostname": {net.JoinHostPort(t.Domain, port)}}
	httpProbe = base + "/probe?" + q.Encode()
	q = url.Values{"module": {"dns_" + strconv.Itoa(i)}, "target": {b.DNSServer}}
	dnsProbe = base + "/probe?" + q.Encode()
	return httpProbe, dnsProbe
}

// RunBlackbox starts the exporter, probes every target (http, then dns) at
// the given concurrency, and measures the exporter's CPU and peak RSS over
// the probing (its start-up, loading the modules, is not counted: the
// exporter is a long-running service).
func RunBlackbox(ctx context.Context, b Blackbox) (Result, string, error) {
	r := Result{Tool: ToolBlackbox, Scenario: b.Scenario, Sites: len(b.Targets), Concurrency: b.Concurrency, Outcomes: map[string]int{}}
	if err := os.MkdirAll(b.Dir, 0o755); err != nil {
		return r, "", fmt.Errorf("creating %s: %w", b.Dir, err)
	}
	cfgPath := b.Dir + "/blackbox.yml"
	f, err := os.Create(cfgPath)
	if err != nil {
		return r, "", fmt.Errorf("writing the blackbox configuration: %w", err)
	}
	if err := b.WriteConfig(f); err != nil {
		f.Close()
		return r, "", fmt.Errorf("writing the blackbox configuration: %w", err)
	}
	if err := f.Close(); err != nil {
		return r, "", fmt.Errorf("writing the blackbox configuration: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return r, "", err
	}
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"--config.file=" + cfgPath, "--web.listen-address=" + listen, "--log.level=warn"}
	command := shellQuote(append([]string{b.Binary}, args...))
	cmd := exec.Command(b.Binary, args...)
	log := b.Log
	if log == nil {
		log = io.Discard
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return r, command, fmt.Errorf("starting %s: %w", b.Binary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	defer stop()

	base := "http://" + listen
	client := &http.Client{Timeout: 4*b.timeout() + 10*time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: b.Concurrency + 1, MaxConnsPerHost: b.Concurrency + 1}}
	if err := waitReady(ctx, client, base+"/-/healthy", exited, 60*time.Second); err != nil {
		return r, command, err
	}
	cpu0, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return r, command, err
	}

	var (
		mu   sync.Mutex
		lat  = make([]float64, 0, 2*len(b.Targets))
		next = make(chan int)
		wg   sync.WaitGroup
	)
	record := func(kind string, ok bool, err error, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			r.Errors++
			r.Outcomes[kind+"_error"]++
		case ok:
			r.Outcomes[kind+"_success"]++
		default:
			r.Outcomes[kind+"_failure"]++
		}
		lat = append(lat, float64(d.Microseconds())/1000)
	}
	start := time.Now()
	for range max(b.Concurrency, 1) {
		wg.Go(func() {
			for i := range next {
				hp, dp := b.probeURLs(base, i)
				for _, p := range []struct{ kind, url string }{{"http", hp}, {"dns", dp}} {
					t0 := time.Now()
					ok, err := probe(ctx, client, p.url)
					record(p.kind, ok, err, time.Since(t0))
				}
			}
		})
	}
	for i := range b.Targets {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	wall := time.Since(start)
	if err := ctx.Err(); err != nil {
		return r, command, err
	}
	cpu1, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return r, command, err
	}
	rss, err := procPeakRSS(cmd.Process.Pid)
	if err != nil {
		return r, command, err
	}
	finish(&r, wall, cpu1-cpu0, rss, lat)
	r.Note = "CPU counted over the probing only; peak RSS includes loading one dns module per site"
	return r, command, nil
}

func probe(ctx context.Context, c *http.Client, u string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("/probe answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return ProbeSucceeded(body)
}

// ProbeSucceeded reads probe_success from an exporter's /probe answer.
func ProbeSucceeded(metrics []byte) (bool, error) {
	for line := range strings.SplitSeq(string(metrics), "\n") {
		if v, ok := strings.CutPrefix(line, "probe_success "); ok {
			return strings.TrimSpace(v) == "1", nil
		}
	}
	return false, errors.New("no probe_success in the /probe answer")
}

func waitReady(ctx context.Context, c *http.Client, u string, exited <-chan error, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("blackbox_exporter exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("blackbox_exporter not ready at %s after %v", u, limit)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// procCPU reads a live process's user+system CPU seconds from /proc.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("reading the exporter's CPU time: %w", err)
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("reading the exporter's CPU time: unexpected /proc stat format")
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 13 {
		return 0, errors.New("reading the exporter's CPU time: short /proc stat")
	}
	ut, err1 := strconv.ParseFloat(fields[11], 64)
	st, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("reading the exporter's CPU time: bad utime or stime")
	}
	return (ut + st) / clockTicks, nil
}

// procPeakRSS reads a live process's peak resident set (VmHWM) in MB.
func procPeakRSS(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("reading the exporter's peak RSS: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("reading the exporter's peak RSS: %q", line)
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("reading the exporter's peak RSS: no VmHWM")
}
