package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/beianwatch/beianwatch/checks/render"
	"github.com/beianwatch/beianwatch/farm"
)

// cmdDemo serves a small farm and supervises `beianwatch run` against it:
// the daemon's log and the receiver's notices interleave on the terminal,
// and Ctrl-C (or SIGTERM) stops the daemon first, then the farm.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	var ff farmFlags
	ff.register(fs, 30, 0.1, filepath.Join("data", "demo"))
	bin := fs.String("beianwatch", filepath.Join("bin", "beianwatch"), "the beianwatch binary")
	listen := fs.String("listen", "127.0.0.1:9470", "the daemon's HTTP address")
	schedule := fs.String("schedule", "@every 10s", "every check's schedule")
	if ok, code := parse(fs, args, stderr); !ok {
		return code
	}
	if _, ok := render.FindBrowser(); ok && !fs.Changed("script-share") {
		// With a browser installed, a tenth of the footers are drawn by
		// script, so the demo shows rendering at work.
		ff.scripted = 0.1
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "beianwatch-farm demo: %v\n", err)
		return 1
	}
	if _, err := os.Stat(*bin); err != nil {
		return fail(fmt.Errorf("the daemon binary %s: %w (run make build)", *bin, err))
	}
	f, err := farm.Generate(ff.options())
	if err != nil {
		return fail(err)
	}
	out := &lockedWriter{w: stdout}
	srv, err := farm.Start(f, farm.ServeConfig{Notices: prefixWriter(out, "[receiver] ")})
	if err != nil {
		return fail(err)
	}
	defer srv.Close()
	// A fresh database each time: the demo shows violations opening.
	if err := os.RemoveAll(filepath.Join(ff.dir, "data")); err != nil {
		return fail(err)
	}
	apiToken := randomToken()
	// The farm shows every broken state side by side, so about half its
	// sites fail the footer check: at the default storm share of 0.5 the
	// storm guard would take that for trouble on our side and hold the
	// footer notices the demo is there to show.
	files, err := srv.WriteFiles(ff.dir, farm.ConfigParams{Listen: *listen, Schedule: *schedule, Concurr: 8, FailAfter: 2, StormShare: 0.9}, apiToken)
	if err != nil {
		return fail(err)
	}
	f.WriteSummary(out)
	fmt.Fprintf(out, "\nfarm: sites on port %d, DNS %s, number-status %s, receiver %s\n", srv.HTTPPort, srv.DNSAddr, srv.PhoneURL, srv.ReceiverURL)
	fmt.Fprintf(out, "starting: %s run --config %s\n\n", *bin, files.Config)

	env := os.Environ()
	for k, v := range srv.Env(apiToken) {
		env = append(env, k+"="+v)
	}
	cmd := exec.Command(*bin, "run", "--config", files.Config)
	cmd.Env = env
	cmd.Stdout = prefixWriter(out, "[beianwatch] ")
	cmd.Stderr = cmd.Stdout
	// Its own process group: the terminal's Ctrl-C reaches us only, and we
	// stop the daemon in order (SIGTERM, then wait) before the farm.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("starting the daemon: %w", err))
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	go func() {
		if waitHealthy(ctx, "http://"+*listen+"/healthz", 30*time.Second) {
			fmt.Fprintf(out, `
[demo] the daemon is up. In another terminal:
         . %s
         curl -s http://%s/metrics | grep -E '^beianwatch_(violations|findings_total|notices_total)'
         curl -s -H "Authorization: Bearer $BEIANWATCH_API_TOKEN" http://%s/api/v1/violations
       Ctrl-C here stops the daemon and the farm.

`, files.Env, *listen, *listen)
		}
	}()

	code := 0
	select {
	case err := <-exited:
		fmt.Fprintf(out, "[demo] the daemon exited on its own: %v\n", err)
		code = 1
	case <-ctx.Done():
		fmt.Fprintln(out, "\n[demo] stopping the daemon …")
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				fmt.Fprintf(out, "[demo] the daemon: %v\n", err)
			}
		case <-time.After(15 * time.Second):
			fmt.Fprintln(out, "[demo] the daemon did not stop within 15s; killing it")
			cmd.Process.Kill()
			<-exited
		}
	}
	srv.Close()
	st := srv.Receiver.Stats()
	fmt.Fprintf(out, "[demo] farm stopped. Notices: %d (duplicates %d, bad signatures %d). By transition: %s. By code: %s\n",
		st.Notices, st.Duplicates, st.BadSignature, countList(st.Transitions), countList(st.Codes))
	return code
}

func waitHealthy(ctx context.Context, u string, limit time.Duration) bool {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
	return false
}

func countList(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// lockedWriter serialises writes from the daemon's output and the
// receiver so their lines never interleave mid-line.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// prefixWriter writes whole lines to w, each starting with prefix.
func prefixWriter(w io.Writer, prefix string) io.Writer {
	return &linePrefixer{w: w, prefix: prefix}
}

type linePrefixer struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *linePrefixer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	var out bytes.Buffer
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		out.WriteString(p.prefix)
		out.Write(p.buf[:i+1])
		p.buf = p.buf[i+1:]
	}
	if out.Len() > 0 {
		if _, err := p.w.Write(out.Bytes()); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
