package dossier

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// The fixture site's life, two years before "now" (2026-11-02):
// two failing runs open footer_link_missing; the opening notice fails
// twice (503, then a timeout) and is delivered on the third attempt; a
// reminder 72h later is delivered at once; two passing runs resolve it and
// the resolution notice is delivered.
var (
	now      = time.Date(2026, 11, 2, 2, 0, 0, 0, time.UTC)
	t0       = time.Date(2024, 11, 2, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai
	opened   = t0.Add(time.Hour)
	reminded = opened.Add(72 * time.Hour)
	resolved = opened.Add(100 * time.Hour)
)

const (
	domain   = "shop.example.cn"
	evidence = `<footer>京ICP备2024000001号-1 客服 13812345678</footer>`
)

func failRun(at time.Time) store.SiteResult {
	return store.SiteResult{Domain: domain, At: at, Result: beian.Result{Check: "footer", Outcome: beian.Fail,
		Findings: []beian.Finding{{Code: "footer_link_missing", Severity: beian.Violation,
			Message: "the filing number is not linked to beian.miit.gov.cn", Evidence: evidence}}}}
}

func passRun(at time.Time) store.SiteResult {
	return store.SiteResult{Domain: domain, At: at, Result: beian.Result{Check: "footer", Outcome: beian.Pass, Findings: []beian.Finding{}}}
}

func record(t *testing.T, st *store.Store, at time.Time, rs ...store.SiteResult) store.Recorded {
	t.Helper()
	var rec store.Recorded
	err := st.InTx(context.Background(), func(tx *sql.Tx) error {
		var err error
		rec, err = st.RecordResults(context.Background(), tx, store.Batch{Now: at, Lifecycle: lifecycle.DefaultConfig(), Results: rs})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// attempt records one delivery attempt of notice id.
func attempt(t *testing.T, st *store.Store, id string, at time.Time, status int, errText string) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.BeginAttempt(ctx, id, at); err != nil {
		t.Fatal(err)
	}
	ts := fmt.Sprint(at.Unix())
	a := store.Attempt{NoticeID: id, At: at, Channel: "webhook", StatusCode: status, Duration: 120 * time.Millisecond, Error: errText,
		SentText: "【整改通知】" + domain + " footer_link_missing",
		SentHeaders: map[string]string{"X-Beianwatch-Notice-Id": id, "X-Beianwatch-Timestamp": ts,
			"X-Beianwatch-Signature": "sha256=" + strings.Repeat("ab", 32)}}
	state, next := store.NoticeDelivered, time.Time{}
	if errText != "" {
		state, next = store.NoticeQueued, at.Add(time.Minute)
	}
	if status == 204 {
		a.BodyExcerpt = "ok, call 13912345678"
	}
	if err := st.FinishAttempt(ctx, a, state, next); err != nil {
		t.Fatal(err)
	}
}

// fixture writes the site's life into a new store, plus plain passing runs
// (two years old, and recent).
func fixture(t *testing.T) (*store.Store, []string) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "bw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	record(t, st, t0.Add(-time.Hour), passRun(t0.Add(-time.Hour)))
	record(t, st, t0, failRun(t0))
	rec := record(t, st, opened, failRun(opened))
	if len(rec.Notices) != 1 {
		t.Fatalf("opening made %d notices", len(rec.Notices))
	}
	ids := []string{rec.Notices[0].ID}
	attempt(t, st, ids[0], opened.Add(time.Second), 503, "HTTP 503 Service Unavailable")
	attempt(t, st, ids[0], opened.Add(61*time.Second), 0, "context deadline exceeded (timeout)")
	attempt(t, st, ids[0], opened.Add(3*time.Minute), 204, "")
	record(t, st, opened.Add(24*time.Hour), failRun(opened.Add(24*time.Hour)))

	err = st.InTx(context.Background(), func(tx *sql.Tx) error {
		r, err := st.TickDue(context.Background(), tx, reminded, lifecycle.DefaultConfig(), 0)
		if err == nil && (len(r.Notices) != 1 || r.Transitions[0].Kind != lifecycle.KindReminder) {
			err = fmt.Errorf("tick made %+v", r)
		}
		if err == nil {
			ids = append(ids, r.Notices[0].ID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	attempt(t, st, ids[1], reminded.Add(time.Second), 200, "")
	record(t, st, resolved.Add(-time.Hour), passRun(resolved.Add(-time.Hour)))
	rec = record(t, st, resolved, passRun(resolved))
	if len(rec.Notices) != 1 {
		t.Fatalf("resolution made %d notices", len(rec.Notices))
	}
	ids = append(ids, rec.Notices[0].ID)
	attempt(t, st, ids[2], resolved.Add(time.Second), 200, "")
	for i := range 5 {
		record(t, st, resolved.Add(time.Duration(i+2)*24*time.Hour), passRun(resolved.Add(time.Duration(i+2)*24*time.Hour)))
		record(t, st, now.Add(-time.Duration(i+1)*time.Hour), passRun(now.Add(-time.Duration(i+1)*time.Hour)))
	}
	return st, ids
}

var site = Site{Domain: domain, ICP: "京ICP备2024000001号-1", Entity: "测试科技有限公司", Status: "filed", OwnerChannel: "webhook"}

// facts are what the dossier must say, each with its time in Shanghai.
func facts(ids []string) []string {
	sh := func(t time.Time) string { return t.In(Shanghai).Format(TimeLayout) }
	return []string{
		domain, "京ICP备2024000001号-1", "测试科技有限公司",
		"footer_link_missing",
		sh(t0),                          // first seen
		sh(opened),                      // opened
		sh(opened.Add(240 * time.Hour)), // deadline
		"reminder", sh(reminded),        // reminder
		"resolved", sh(resolved), // resolution
		ids[0], sh(opened.Add(time.Second)), "503", // first failed attempt
		sh(opened.Add(61 * time.Second)), "timeout", // second failed attempt
		sh(opened.Add(3 * time.Minute)), "204", // delivered
		"sha256=" + strings.Repeat("ab", 32), // the signature
		ids[1], ids[2],
		"138****5678", // evidence as first seen, masked
	}
}

func TestDossierHasEveryFactWithItsTime(t *testing.T) {
	st, ids := fixture(t)
	d, err := Build(context.Background(), st, site, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Violations) != 1 {
		t.Fatalf("violations %+v", d.Violations)
	}
	v := d.Violations[0]
	var kinds []string
	for _, e := range v.Events {
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, ",") != "opened,reminder,resolved" || v.Outcome != "resolved" {
		t.Errorf("events %v outcome %s", kinds, v.Outcome)
	}
	if v.FirstSeen != t0.In(Shanghai).Format(TimeLayout) || len(v.Runs) != 3 {
		t.Errorf("first seen %q runs %+v; want the pending, opening and resolving runs", v.FirstSeen, v.Runs)
	}
	if len(d.Notices) != 3 || len(d.Notices[0].Attempts) != 3 {
		t.Fatalf("notices %+v", d.Notices)
	}
	a := d.Notices[0].Attempts
	if a[0].HTTPStatus != 503 || a[0].Delivered || a[1].Delivered || a[2].HTTPStatus != 204 || !a[2].Delivered || a[2].Signature == "" {
		t.Errorf("attempts %+v", a)
	}
	html, err := HTML(d, now)
	if err != nil {
		t.Fatal(err)
	}
	text := string(html)
	for _, f := range facts(ids) {
		if !strings.Contains(text, f) {
			t.Errorf("HTML dossier lacks %q", f)
		}
	}
	for _, secret := range []string{"13812345678", "13912345678"} {
		if strings.Contains(text, secret) {
			t.Errorf("HTML dossier shows the phone number %s", secret)
		}
	}
	computed, stated, err := Verify(html)
	if err != nil || computed != stated {
		t.Errorf("embedded data hashes to %s, footer says %s (%v)", computed, stated, err)
	}
	want, _ := Hash(d)
	if stated != want {
		t.Errorf("footer hash %s, Hash %s", stated, want)
	}
	// A copy changed by one byte no longer verifies.
	m := regexp.MustCompile(`id="dossier-data" hidden>([^<]+)<`).FindSubmatch(html)
	raw, _ := base64.RawURLEncoding.DecodeString(string(m[1]))
	forged := bytes.Replace(raw, []byte("resolved"), []byte("reSolved"), 1)
	html2 := bytes.Replace(html, m[1], []byte(base64.RawURLEncoding.EncodeToString(forged)), 1)
	if c2, s2, _ := Verify(html2); c2 == s2 {
		t.Errorf("a tampered copy verifies")
	}
	// The same record gives the same hash, whenever it is generated.
	d2, _ := Build(context.Background(), st, site, time.Time{}, time.Time{})
	if h2, _ := Hash(d2); h2 != want {
		t.Errorf("rebuilding changed the hash")
	}
}

func TestDossierPeriodLimitsWhatItCovers(t *testing.T) {
	st, ids := fixture(t)
	d, err := Build(context.Background(), st, site, reminded.Add(-time.Hour), reminded.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Violations) != 1 || len(d.Violations[0].Events) != 1 || d.Violations[0].Events[0].Kind != "reminder" {
		t.Errorf("violations in the period %+v", d.Violations)
	}
	if len(d.Notices) != 1 || d.Notices[0].ID != ids[1] {
		t.Errorf("notices in the period %+v", d.Notices)
	}
}

// TestRetentionKeepsTheDossier prunes with the daemon's defaults (history
// 30 days, record 3 years): the plain passing runs older than the history
// retention go, the dossier of the two-year-old violation is unchanged.
func TestRetentionKeepsTheDossier(t *testing.T) {
	ctx := context.Background()
	st, _ := fixture(t)
	before, err := Build(ctx, st, site, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := st.Runs(ctx, domain, "", 1000)
	n, err := st.PruneRuns(ctx, now.Add(-30*24*time.Hour), now.Add(-3*365*24*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	left, _ := st.Runs(ctx, domain, "", 1000)
	// Kept: the runs that changed the violation (first failure, opening,
	// resolution) and the five passes within the history retention. Gone:
	// the eight plain runs older than 30 days, a failing one among them.
	keep := map[time.Time]bool{t0: true, opened: true, resolved: true}
	for i := range 5 {
		keep[now.Add(-time.Duration(i+1)*time.Hour)] = true
	}
	if n != 8 || len(all) != 16 || len(left) != len(keep) {
		t.Fatalf("of %d runs %d pruned and %d left; want 16, 8 and %d", len(all), n, len(left), len(keep))
	}
	for _, r := range left {
		if !keep[r.At] {
			t.Errorf("run of %s (%s) survived the history retention", r.At, r.Result.Outcome)
		}
	}
	after, err := Build(ctx, st, site, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	hb, _ := Hash(before)
	ha, _ := Hash(after)
	if hb != ha {
		eb, _ := Encode(before)
		ea, _ := Encode(after)
		t.Errorf("pruning changed the dossier:\nbefore %s\nafter  %s", eb, ea)
	}
	// Past the record retention, the record's runs go too, and the
	// dossier says less: the test above would have noticed.
	if _, err := st.PruneRuns(ctx, now, now, 0); err != nil {
		t.Fatal(err)
	}
	gone, _ := Build(ctx, st, site, time.Time{}, time.Time{})
	if hg, _ := Hash(gone); hg == hb {
		t.Errorf("the dossier does not depend on the runs it claims to keep")
	}
}

func requireTool(t *testing.T, path, what string) {
	t.Helper()
	if path != "" {
		return
	}
	if os.Getenv("BEIANWATCH_REQUIRE_INTEGRATION") != "" {
		t.Fatalf("%s not found and BEIANWATCH_REQUIRE_INTEGRATION is set", what)
	}
	t.Skipf("%s not installed; set BEIANWATCH_REQUIRE_INTEGRATION=1 to make this a failure", what)
}

// TestDossierPDF prints the dossier with Chromium and reads it back with
// pdftotext: every fact and its time is in the PDF's text, and the hash
// line there matches a recomputation from the store.
func TestDossierPDF(t *testing.T) {
	browser := Browser(os.Getenv)
	requireTool(t, browser, "Chromium (Debian package chromium)")
	pdftotext, _ := exec.LookPath("pdftotext")
	requireTool(t, pdftotext, "pdftotext (Debian package poppler-utils)")

	st, ids := fixture(t)
	d, err := Build(context.Background(), st, site, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	html, err := HTML(d, now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pdf, err := PDF(ctx, browser, html)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", pdf[:min(len(pdf), 20)])
	}
	path := filepath.Join(t.TempDir(), "dossier.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	// Long tokens (ids, signatures, the hash) may wrap across lines in the
	// PDF: compare without whitespace.
	flat := strings.Join(strings.Fields(string(out)), "")
	for _, f := range facts(ids) {
		if !strings.Contains(flat, strings.Join(strings.Fields(f), "")) {
			t.Errorf("the PDF's text lacks %q", f)
		}
	}
	m := regexp.MustCompile(`SHA-256\(dossierdata\):([0-9a-f]{64})`).FindStringSubmatch(flat)
	if m == nil {
		t.Fatalf("no hash line in the PDF's text:\n%s", out)
	}
	raw, err := Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if m[1] != hex.EncodeToString(sum[:]) {
		t.Errorf("the PDF states %s, the data hashes to %x", m[1], sum)
	}
}
