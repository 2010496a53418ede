package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// browserMarker is in the command line of every Chromium process the
// renderer starts (its --user-data-dir).
const browserMarker = "beianwatch-chromium-"

// browserSampler tracks the peak memory of the headless browser trees
// alive while a scenario runs, from /proc: proportional set size (shared
// pages counted once) and the number of processes.
type browserSampler struct {
	stop     chan struct{}
	done     sync.WaitGroup
	peakPSS  int64
	peakProc int
}

func startBrowserSampler(every time.Duration) *browserSampler {
	s := &browserSampler{stop: make(chan struct{})}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			pss, n := browserMemory()
			s.peakPSS, s.peakProc = max(s.peakPSS, pss), max(s.peakProc, n)
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *browserSampler) Stop() { close(s.stop); s.done.Wait() }

func browserMemory() (pss int64, procs int) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmd), browserMarker) {
			continue
		}
		procs++
		f, err := os.Open("/proc/" + e.Name() + "/smaps_rollup")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
				if fs := strings.Fields(v); len(fs) > 0 {
					kb, _ := strconv.ParseInt(fs[0], 10, 64)
					pss += kb << 10
				}
				break
			}
		}
		f.Close()
	}
	return pss, procs
}

// renderedCounts reads an audit JSON report and counts the footer results
// that were rendered, and those that ended needing a browser anyway.
func renderedCounts(path string) (rendered, stillNeeding int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	var rep struct {
		Sites []struct {
			Results []struct {
				Check   string            `json:"check"`
				Reason  string            `json:"reason"`
				Details map[string]string `json:"details"`
			} `json:"results"`
		} `json:"sites"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return 0, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	for _, s := range rep.Sites {
		for _, r := range s.Results {
			if r.Check != "footer" {
				continue
			}
			if r.Details["rendered"] == "true" {
				rendered++
			} else if r.Reason == "needs_rendering" {
				stillNeeding++
			}
		}
	}
	return rendered, stillNeeding, nil
}
