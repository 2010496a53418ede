package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/alerts"
	"github.com/beianwatch/beianwatch/farm"
	"github.com/beianwatch/beianwatch/internal/syncbuf"
)

// The trial's counters from the receiver's arrivals and the daemon's
// account of what it still holds: each kind of outcome is told apart.
func TestFaultClassify(t *testing.T) {
	rc := farm.NewReceiver(map[string]string{"/hook/0": "s"}, io.Discard, nil)
	post := func(id, domain, code string) {
		now := time.Now()
		body := []byte(fmt.Sprintf(`{"id":%q,"kind":"owner","site":{"domain":%q},"violations":[{"code":%q,"transition":"opened"}]}`, id, domain, code))
		req := httptest.NewRequest(http.MethodPost, "/hook/0", bytes.NewReader(body))
		req.Header.Set("X-Beianwatch-Timestamp", fmt.Sprint(now.Unix()))
		req.Header.Set("X-Beianwatch-Signature", alerts.SignWebhook("s", now.Unix(), body))
		req.Header.Set("X-Beianwatch-Notice-Id", id)
		rc.ServeHTTP(httptest.NewRecorder(), req)
	}
	began := time.Now()
	post("n1", "ontime.test", "footer_link_missing")
	post("n2", "twice.test", "footer_icp_missing")
	post("n3", "twice.test", "footer_icp_missing") // a second id: a logical duplicate
	post("n3", "twice.test", "footer_icp_missing") // the same id again: a harmless retry
	post("n9", "nobody.test", "shell_placeholder") // not called for

	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/api/v1/notices":
			io.WriteString(w, `{"total":4,"items":[
				{"id":"n1","domain":"ontime.test","state":"delivered","payload":{"transitions":[{"code":"footer_link_missing","kind":"opened"}]}},
				{"id":"n4","domain":"gone.test","state":"delivered","payload":{"transitions":[{"code":"shell_unresolvable","kind":"opened"}]}},
				{"id":"n5","domain":"waiting.test","state":"sending","payload":{"transitions":[{"code":"dns_resolving_while_pending","kind":"opened"}]}},
				{"id":"n6","domain":"dead.test","state":"dead","payload":{"transitions":[{"code":"contact_vacant","kind":"opened"}]}}]}`)
		case "/api/v1/violations":
			io.WriteString(w, `{"total":1,"items":[{"domain":"vanished.test","code":"footer_psb_missing","status":"open"}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()

	var log strings.Builder
	h := &faultHarness{late: time.Minute, out: &log, srv: &farm.Server{Receiver: rc}, expected: map[string]bool{
		"ontime.test footer_link_missing":          true,
		"twice.test footer_icp_missing":            true,
		"gone.test shell_unresolvable":             true, // delivered by its account, never received
		"waiting.test dns_resolving_while_pending": true, // still being sent
		"dead.test contact_vacant":                 true, // given up on
		"vanished.test footer_psb_missing":         true, // open, but no notice carries it
		"unchecked.test footer_link_obsolete":      true, // not recorded yet
	}}
	te := &trialEnv{h: h, listen: strings.TrimPrefix(api.URL, "http://"), token: "tok", starts: []time.Time{began}, liftAt: began}
	var res trialResult
	if err := te.classify(&res, nil); err != nil {
		t.Fatal(err)
	}
	want := trialResult{OnTime: 2, Duplicate: 1, Redelivered: 1, Unexpected: 1, Lost: 3, Late: 2, Undelivered: 2, Unsettled: 1}
	res.MaxLatency = 0
	if res != want {
		t.Errorf("got  %+v\nwant %+v\n%s", res, want, log.String())
	}
	if !strings.Contains(log.String(), "lost: gone.test shell_unresolvable") {
		t.Errorf("losses are not named:\n%s", log.String())
	}

	// Received, but more than --late after the restart: late.
	te.starts = []time.Time{began.Add(-2 * time.Minute)}
	te.liftAt = began.Add(-2 * time.Minute)
	res = trialResult{}
	if err := te.classify(&res, nil); err != nil {
		t.Fatal(err)
	}
	if res.OnTime != 0 || res.Late != 4 {
		t.Errorf("arrivals 2 minutes after the start: %+v, want all 4 received-or-pending changes late", res)
	}
}

func TestFaultsNeedsTheBinary(t *testing.T) {
	var out, errOut syncbuf.Buffer
	code := run(context.Background(), []string{"faults", "--beianwatch", "/nonexistent/beianwatch"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "run make build") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}
