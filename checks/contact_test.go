package checks

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/internal/syncbuf"

	"golang.org/x/time/rate"
)

func contactSite(contacts ...string) *Site {
	s := &Site{Domain: "example.cn", Status: StatusFiled}
	for _, c := range contacts {
		role, phone, _ := strings.Cut(c, ":")
		s.Contacts = append(s.Contacts, Contact{Role: role, Phone: phone})
	}
	return s
}

func contactCodes(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Code+"/"+string(f.Severity))
	}
	return out
}

func TestContactCheckFormatOnly(t *testing.T) {
	cases := []struct {
		name     string
		site     *Site
		outcome  Outcome
		findings []string
		evidence string // substring of the first finding's evidence
		reason   string
	}{
		{name: "valid mobile and landlines", site: contactSite("site_head:13812345678", "entity_head:010-62345678", "emergency:0755-86123456-8888"), outcome: Pass},
		{name: "unallocated segment", site: contactSite("site_head:15412345678", "entity_head:13812345678"), outcome: Fail,
			findings: []string{"contact_invalid_format/violation"}, evidence: "role=site_head number=154****5678 problem=unallocated segment 154"},
		{name: "two bad contacts, two findings", site: contactSite("site_head:1381234567", "emergency:0666-1234567"), outcome: Fail,
			findings: []string{"contact_invalid_format/violation", "contact_invalid_format/violation"}, evidence: "problem=too short (10 digits)"},
		{name: "empty number", site: contactSite("emergency:"), outcome: Fail,
			findings: []string{"contact_invalid_format/violation"}, evidence: "number=(empty) problem=empty"},
		{name: "letters", site: contactSite("site_head:138abcd5678"), outcome: Fail,
			findings: []string{"contact_invalid_format/violation"}, evidence: "problem=contains letters"},
		{name: "unknown role still checked", site: contactSite("owner:13812345678"), outcome: Pass,
			findings: []string{"contact_role_unknown/warning"}, evidence: "role=owner number=138****5678"},
		{name: "unknown role, bad number", site: contactSite("owner:15412345678"), outcome: Fail,
			findings: []string{"contact_role_unknown/warning", "contact_invalid_format/violation"}},
		{name: "Chinese role names", site: contactSite("网站负责人:13812345678", "主体负责人:13912345678"), outcome: Pass},
		{name: "no contacts", site: contactSite(), outcome: NotApplicable, reason: "no contacts on file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(context.Background(), NewContactCheck(nil), tc.site)
			if r.Check != "contact" || r.Outcome != tc.outcome {
				t.Fatalf("check %q outcome %q (reason %q), want %q", r.Check, r.Outcome, r.Reason, tc.outcome)
			}
			if got := contactCodes(r.Findings); strings.Join(got, ",") != strings.Join(tc.findings, ",") {
				t.Errorf("findings %v, want %v", got, tc.findings)
			}
			if tc.evidence != "" && (len(r.Findings) == 0 || !strings.Contains(r.Findings[0].Evidence, tc.evidence)) {
				t.Errorf("evidence %q, want it to contain %q", r.Findings, tc.evidence)
			}
			if tc.reason != "" && r.Reason != tc.reason {
				t.Errorf("reason %q, want %q", r.Reason, tc.reason)
			}
			if r.Outcome != NotApplicable && r.Details["reachability"] != "not checked" {
				t.Errorf(`Details["reachability"] = %q, want "not checked"`, r.Details["reachability"])
			}
		})
	}
}

// Cells as providers' spreadsheets hold them: several numbers in one cell,
// notes around them, numbers we cannot check offline. A number that may be
// real must never become a violation; one that cannot be must.
func TestContactCheckCells(t *testing.T) {
	cases := []struct {
		name     string
		site     *Site
		outcome  Outcome
		findings []string
		evidence string // substring of the first finding's evidence
		detail   string // substring of details["contact.1"]
		numbers  int    // numbers in details["contact.1"], when set
		reason   string // substring of the reason
		unjudged string
	}{
		// Business hours are not part of the number.
		{name: "mobile with business hours", site: contactSite("site_head:13812345678 9:00-18:00"), outcome: Pass,
			detail: "site_head 138****5678 mobile", numbers: 1},
		{name: "landline with business hours", site: contactSite("site_head:0755-86123456 8:30~17:30"), outcome: Pass,
			detail: "075****3456 landline", numbers: 1},
		{name: "hours in Chinese", site: contactSite("site_head:13812345678（工作日 9:00至18:00）"), outcome: Pass, numbers: 1},
		{name: "two mobiles, slash", site: contactSite("site_head:13812345678/13912345678"), outcome: Pass,
			detail: "site_head 138****5678 mobile: reachability not checked; site_head 139****5678 mobile", numbers: 2},
		{name: "mobile and landline, full-width semicolon", site: contactSite("site_head:13812345678；010-62345678"), outcome: Pass,
			detail: "010****5678 landline"},
		{name: "enumeration comma", site: contactSite("site_head:13812345678、13912345678"), outcome: Pass, detail: "139****5678 mobile"},
		{name: "comma", site: contactSite("site_head:13812345678, 13912345678"), outcome: Pass, detail: "139****5678 mobile"},
		{name: "space", site: contactSite("site_head:13812345678 13912345678"), outcome: Pass, detail: "139****5678 mobile"},
		{name: "spaced groups", site: contactSite("site_head:138 1234 5678 139 1234 5678"), outcome: Pass, detail: "139****5678 mobile"},
		{name: "或", site: contactSite("site_head:13812345678 或 13912345678"), outcome: Pass, detail: "139****5678 mobile"},
		{name: "labelled", site: contactSite("site_head:手机13812345678 座机010-62345678"), outcome: Pass, detail: "010****5678 landline"},
		{name: "second landline without its area code", site: contactSite("site_head:010-62345678/62345679"), outcome: Pass,
			detail: "010****5679 landline", numbers: 2},
		{name: "the same number twice is one number", site: contactSite("site_head:13812345678/138-1234-5678"), outcome: Pass,
			detail: "site_head 138****5678 mobile: reachability not checked", numbers: 1},
		{name: "one good, one unallocated", site: contactSite("site_head:13812345678/15412345678"), outcome: Fail,
			findings: []string{"contact_invalid_format/violation"}, evidence: "number=154****5678 problem=unallocated segment 154"},
		{name: "a number among words may be a QQ number", site: contactSite("site_head:13812345678（QQ 12345678）"), outcome: Inconclusive,
			reason: "number could not be checked: site_head ****5678: not clearly a phone number (too short (8 digits))"},
		{name: "words after a full-width semicolon may be a QQ number", site: contactSite("site_head:手机13812345678；QQ 12345678"), outcome: Inconclusive,
			reason: "number could not be checked: site_head ****5678: not clearly a phone number (too short (8 digits))"},
		{name: "words after an enumeration comma may be a fax number", site: contactSite("site_head:13812345678、传真 12345678"), outcome: Inconclusive,
			reason: "number could not be checked: site_head ****5678: not clearly a phone number (too short (8 digits))"},
		{name: "words after a slash may be a WeChat ID", site: contactSite("site_head:13812345678/微信 wx12345678"), outcome: Inconclusive,
			reason: "not clearly a phone number"},
		{name: "a QQ number before a mobile, blanks only", site: contactSite("site_head:QQ 12345678 13812345678"), outcome: Inconclusive,
			reason: "not clearly a phone number (too short (8 digits))", detail: "138****5678 mobile"},
		{name: "a service number after a mobile, blanks only, is not one long number", site: contactSite("site_head:13812345678 95588"), outcome: Inconclusive,
			reason: "a 95xxx short service number", detail: "138****5678 mobile"},
		{name: "a bad number with no words after a semicolon is still a violation", site: contactSite("site_head:13812345678；15412345678"), outcome: Fail,
			findings: []string{"contact_invalid_format/violation"}, evidence: "number=154****5678 problem=unallocated segment 154"},
		{name: "400 number", site: contactSite("emergency:400-810-8888"), outcome: Inconclusive,
			reason: "number could not be checked: emergency ****8888: a 400 service number", detail: "cannot be checked"},
		{name: "masked number", site: contactSite("site_head:138****5678"), outcome: Inconclusive, reason: "masked"},
		{name: "scientific notation", site: contactSite("site_head:1.38123E+10"), outcome: Inconclusive, reason: "scientific notation"},
		{name: "a bad number next to one we cannot check leaves the latter unjudged",
			site: contactSite("site_head:15412345678", "emergency:95588"), outcome: Fail, findings: []string{"contact_invalid_format/violation"},
			unjudged: "contact_invalid_format,contact_vacant,contact_suspended,contact_powered_off,contact_unreachable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(context.Background(), NewContactCheck(nil), tc.site)
			if r.Outcome != tc.outcome {
				t.Fatalf("outcome %q (reason %q, findings %v, details %v), want %q", r.Outcome, r.Reason, r.Findings, r.Details, tc.outcome)
			}
			if got := contactCodes(r.Findings); strings.Join(got, ",") != strings.Join(tc.findings, ",") {
				t.Errorf("findings %v, want %v", got, tc.findings)
			}
			if tc.evidence != "" && (len(r.Findings) == 0 || !strings.Contains(r.Findings[0].Evidence, tc.evidence)) {
				t.Errorf("evidence %v, want it to contain %q", r.Findings, tc.evidence)
			}
			if !strings.Contains(r.Details["contact.1"], tc.detail) {
				t.Errorf("details %q, want it to contain %q", r.Details["contact.1"], tc.detail)
			}
			if n := len(strings.Split(r.Details["contact.1"], "; ")); tc.numbers != 0 && n != tc.numbers {
				t.Errorf("details %q hold %d numbers, want %d", r.Details["contact.1"], n, tc.numbers)
			}
			if !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", r.Reason, tc.reason)
			}
			if got := strings.Join(r.Unjudged, ","); got != tc.unjudged {
				t.Errorf("unjudged %q, want %q", got, tc.unjudged)
			}
			out, _ := json.Marshal(r)
			for _, ct := range tc.site.Contacts {
				for _, piece := range splitPhoneList(ct.Phone) {
					assertNoNumberLeak(t, string(out), piece.text)
				}
			}
		})
	}
}

// Whatever separates a second number from the first, words around it (a QQ
// number, a fax, a WeChat ID) make it "could not tell", never a violation;
// a bad number with no words stays one.
func TestContactCheckWordsAfterAnySeparator(t *testing.T) {
	separators := []string{"；", ";", "、", "/", ",", "，", "|", " ", "\n", " 或 ", " or "}
	seconds := []struct {
		name    string
		text    string
		outcome Outcome
	}{
		{name: "QQ with a space", text: "QQ 12345678", outcome: Inconclusive},
		{name: "QQ run on", text: "QQ12345678", outcome: Inconclusive},
		{name: "fax", text: "传真 12345678", outcome: Inconclusive},
		{name: "WeChat ID", text: "微信 wx12345678", outcome: Inconclusive},
		{name: "trailing note", text: "12345678 (QQ)", outcome: Inconclusive},
		{name: "bad number, no words", text: "15412345678", outcome: Fail},
		{name: "short number, no words", text: "1381234567", outcome: Fail},
	}
	for _, sep := range separators {
		for _, second := range seconds {
			cell := "13812345678" + sep + second.text
			t.Run(fmt.Sprintf("%q", cell), func(t *testing.T) {
				r := Run(context.Background(), NewContactCheck(nil), contactSite("site_head:"+cell))
				if r.Outcome != second.outcome {
					t.Fatalf("outcome %q (reason %q, findings %v), want %q", r.Outcome, r.Reason, r.Findings, second.outcome)
				}
				if second.outcome == Inconclusive && !strings.Contains(r.Reason, "not clearly a phone number") {
					t.Errorf("reason %q, want it to say the number is not clearly a phone number", r.Reason)
				}
			})
		}
	}
}

// statusProvider answers from a number -> status table; numbers missing
// from it get an HTTP 500.
func statusProvider(t testing.TB, table map[string]string) *fakePhoneProvider {
	return newFakePhoneProvider(t, func(n string, _ *http.Request) (int, string) {
		st, ok := table[n]
		if !ok {
			return 500, "boom " + n
		}
		return 200, `{"status":"` + st + `"}`
	})
}

func TestContactCheckReachability(t *testing.T) {
	fp := statusProvider(t, map[string]string{
		"+8613812345678": "ok",
		"+8613912345678": "vacant",
		"+8615012345678": "suspended",
		"+8615112345678": "powered_off",
		"+8615212345678": "unreachable",
		"+8615712345678": "unknown",
		// +8615812345678 answers HTTP 500
	})
	cases := []struct {
		name         string
		site         *Site
		outcome      Outcome
		findings     []string
		reason       string
		reachability string
		unjudged     string
	}{
		{name: "ok", site: contactSite("site_head:13812345678"), outcome: Pass, reachability: "checked"},
		{name: "vacant", site: contactSite("site_head:139 1234 5678"), outcome: Fail, findings: []string{"contact_vacant/violation"}, reachability: "checked"},
		{name: "suspended", site: contactSite("entity_head:+86 150 1234 5678"), outcome: Fail, findings: []string{"contact_suspended/violation"}},
		{name: "powered off", site: contactSite("emergency:15112345678"), outcome: Fail, findings: []string{"contact_powered_off/violation"}},
		{name: "unreachable", site: contactSite("emergency:15212345678"), outcome: Fail, findings: []string{"contact_unreachable/violation"}},
		{name: "unknown is inconclusive", site: contactSite("site_head:15712345678", "entity_head:13812345678"), outcome: Inconclusive,
			reason: "site_head 157****5678: provider answered unknown", reachability: "checked 1 of 2"},
		{name: "provider error is inconclusive", site: contactSite("site_head:15812345678"), outcome: Inconclusive,
			reason: "site_head 158****5678: number-status lookup of 158****5678: provider error (HTTP 500)"},
		{name: "violation beats unknown", site: contactSite("site_head:15712345678", "emergency:13912345678"), outcome: Fail,
			findings: []string{"contact_vacant/violation"}, unjudged: "contact_vacant,contact_suspended,contact_powered_off,contact_unreachable"},
		{name: "a bad format next to a failed lookup leaves the statuses unjudged", site: contactSite("site_head:15412345678", "emergency:15812345678"),
			outcome: Fail, findings: []string{"contact_invalid_format/violation"},
			unjudged: "contact_vacant,contact_suspended,contact_powered_off,contact_unreachable"},
		{name: "landline not sent to a mobile-only provider", site: contactSite("entity_head:010-62345678"), outcome: Pass,
			reachability: "not checked (no mobile numbers)"},
		{name: "invalid format is not looked up", site: contactSite("site_head:15412345678"), outcome: Fail,
			findings: []string{"contact_invalid_format/violation"}},
		{name: "every number of a cell is looked up", site: contactSite("site_head:13812345678/139 1234 5678"), outcome: Fail,
			findings: []string{"contact_vacant/violation"}, reachability: "checked"},
		{name: "a service number is not looked up", site: contactSite("emergency:400-810-8888"), outcome: Inconclusive,
			reason: "400 service number", reachability: "not checked (no mobile numbers)"},
	}
	c := NewContactCheck(newTestStatusClient(t, fp.srv.URL, nil, nil, nil))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(context.Background(), c, tc.site)
			if r.Outcome != tc.outcome {
				t.Fatalf("outcome %q (reason %q, findings %v), want %q", r.Outcome, r.Reason, contactCodes(r.Findings), tc.outcome)
			}
			if got := contactCodes(r.Findings); strings.Join(got, ",") != strings.Join(tc.findings, ",") {
				t.Errorf("findings %v, want %v", got, tc.findings)
			}
			if tc.reason != "" && !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", r.Reason, tc.reason)
			}
			if got := strings.Join(r.Unjudged, ","); got != tc.unjudged {
				t.Errorf("unjudged %q, want %q", got, tc.unjudged)
			}
			if tc.reachability != "" && r.Details["reachability"] != tc.reachability {
				t.Errorf("reachability %q, want %q", r.Details["reachability"], tc.reachability)
			}
		})
	}
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for _, n := range fp.seen {
		if n == "+861062345678" || n == "+8615412345678" {
			t.Errorf("provider was asked about %s", MaskPhone(n))
		}
	}
}

func TestContactCheckSlowProviderIsInconclusive(t *testing.T) {
	fp := newFakePhoneProvider(t, func(_ string, r *http.Request) (int, string) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
		return 200, `{"status":"vacant"}`
	})
	c := NewContactCheck(newTestStatusClient(t, fp.srv.URL, nil, nil, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := Run(ctx, c, contactSite("site_head:13812345678"))
	if r.Outcome != Inconclusive || !strings.Contains(r.Reason, "timed out") || len(r.Findings) != 0 {
		t.Fatalf("slow provider: outcome %q reason %q findings %v", r.Outcome, r.Reason, r.Findings)
	}
}

// 200 sites sharing one number cost one provider call, one after another
// and all at once.
func TestContactCheck200SitesOneCall(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		t.Run(fmt.Sprintf("concurrent=%v", concurrent), func(t *testing.T) {
			fp := statusProvider(t, map[string]string{"+8613812345678": "vacant"})
			clock := newContactClock()
			c := NewContactCheck(newTestStatusClient(t, fp.srv.URL, rate.NewLimiter(rate.Every(time.Hour), 1), NewMemoryPhoneCache(clock.Now), clock.Now))
			var wg sync.WaitGroup
			results := make([]Result, 200)
			for i := range results {
				site := contactSite("site_head:138-1234-5678", "emergency:+86 13812345678")
				site.Domain = fmt.Sprintf("site%d.example.cn", i)
				run := func() { results[i] = Run(context.Background(), c, site) }
				if concurrent {
					wg.Go(run)
				} else {
					run()
				}
			}
			wg.Wait()
			for i, r := range results {
				if r.Outcome != Fail || len(r.Findings) != 2 || r.Findings[0].Code != CodeContactVacant {
					t.Fatalf("site %d: %q %v (%s)", i, r.Outcome, contactCodes(r.Findings), r.Reason)
				}
			}
			if n := fp.calls.Load(); n != 1 {
				t.Errorf("provider calls = %d, want 1", n)
			}
		})
	}
}

type leakyRule struct{}

func (leakyRule) Name() string { return "leaky" }
func (leakyRule) Check(_ *Site, role string, p Phone) []Finding {
	return []Finding{{Code: "contact_test_rule", Severity: Warning,
		Message: "rule saw " + p.E164 + " / " + p.National(), Evidence: "raw " + strings.TrimPrefix(p.E164, "+86")}}
}

func TestContactRules(t *testing.T) {
	c := NewContactCheck(nil)
	c.Rules = []ContactRule{MobileRequired(Warning, RoleSiteHead, RoleEntityHead)}
	r := Run(context.Background(), c, contactSite("site_head:010-62345678", "emergency:010-62345679", "entity_head:13812345678"))
	if got := contactCodes(r.Findings); strings.Join(got, ",") != "contact_not_mobile/warning" || r.Outcome != Pass {
		t.Fatalf("MobileRequired: %q %v", r.Outcome, got)
	}
	if !strings.Contains(r.Findings[0].Evidence, "role=site_head number=010****5678 kind=landline") {
		t.Errorf("evidence %q", r.Findings[0].Evidence)
	}
	// A rule that spells the number out is masked on the way out.
	c.Rules = []ContactRule{leakyRule{}}
	r = Run(context.Background(), c, contactSite("site_head:13812345678"))
	if len(r.Findings) != 1 {
		t.Fatalf("findings %v", r.Findings)
	}
	assertNoNumberLeak(t, r.Findings[0].Message+" "+r.Findings[0].Evidence, "13812345678")
}

// The unmasked number must appear nowhere: not in logs (client and check, at
// debug level), not in results, not in errors, whatever the path taken.
func TestContactCheckNeverLeaksNumbers(t *testing.T) {
	numbers := map[string]string{ // as written in the filing -> provider status
		"13812345678":        "vacant",
		"+86 139 1234 5678":  "ok",
		"0086-150-1234-5678": "", // provider answers HTTP 500 echoing the number
		"15712345678":        "unknown",
	}
	table := map[string]string{}
	for raw, st := range numbers {
		if p, err := ParsePhone(raw); err == nil && st != "" {
			table[p.E164] = st
		}
	}
	fp := newFakePhoneProvider(t, func(n string, _ *http.Request) (int, string) {
		if st, ok := table[n]; ok {
			return 200, `{"status":"` + st + `"}`
		}
		return 500, `{"error": "upstream failed for ` + n + ` with token ` + testPhoneToken + `"}`
	})
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client := newTestStatusClient(t, fp.srv.URL, nil, nil, nil, WithPhoneLogger(logger))
	check := NewContactCheck(client)
	check.Logger = logger
	check.Rules = []ContactRule{MobileRequired(Violation, RoleSiteHead), leakyRule{}}
	site := contactSite(
		"site_head:13812345678",
		"entity_head:+86 139 1234 5678",
		"emergency:0086-150-1234-5678",
		"site_head:15712345678",
		"emergency:15412345678",    // invalid format
		"13812345678:site_head",    // role and number swapped
		"entity_head:010-62345678", // landline
	)
	all := []string{"13812345678", "13912345678", "15012345678", "15712345678", "15412345678", "1062345678"}
	assertClean := func(t *testing.T, what, s string) {
		t.Helper()
		for _, n := range all {
			assertNoNumberLeak(t, what+": "+s, n)
		}
		if strings.Contains(s, testPhoneToken) {
			t.Errorf("%s leaks the token: %s", what, s)
		}
	}

	r := Run(context.Background(), check, site)
	if r.Outcome != Fail {
		t.Fatalf("outcome %q (%s)", r.Outcome, r.Reason)
	}
	out, _ := json.Marshal(r)
	assertClean(t, "result JSON", string(out))
	assertClean(t, "logs", logs.String())
	if !strings.Contains(logs.String(), "138****5678") || !strings.Contains(string(out), "138****5678") {
		t.Errorf("masked numbers missing: the test would pass vacuously")
	}
	if !strings.Contains(r.Reason+string(out), "HTTP 500") {
		t.Errorf("the provider error path was not exercised: %s", out)
	}

	// Reveal puts full numbers in evidence, and only there.
	check.Reveal = true
	r = Run(context.Background(), check, site)
	revealed := 0
	for _, f := range r.Findings {
		assertClean(t, "message", f.Message)
		if strings.Contains(f.Evidence, "+8613812345678") || strings.Contains(f.Evidence, `"15412345678"`) {
			revealed++
		}
	}
	if revealed < 2 {
		t.Errorf("Reveal: full numbers in %d findings' evidence, want the vacant and the invalid one: %v", revealed, r.Findings)
	}
	assertClean(t, "reason", r.Reason)
	assertClean(t, "logs after reveal", logs.String())
}

func BenchmarkContactCheckCached(b *testing.B) {
	table := map[string]string{"+8613812345678": "ok", "+8613912345678": "ok"}
	fp := statusProvider(b, table)
	client, err := NewPhoneStatusClient(fp.srv.URL, testPhoneToken, http.DefaultClient, rate.NewLimiter(rate.Inf, 1), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	c := NewContactCheck(client)
	site := contactSite("site_head:13812345678", "entity_head:+86 139 1234 5678", "emergency:010-62345678-123")
	ctx := context.Background()
	for b.Loop() {
		if r := c.Check(ctx, site); r.Outcome != Pass {
			b.Fatalf("outcome %q: %s", r.Outcome, r.Reason)
		}
	}
}

// Odd cells never panic and stay cheap: an extension that runs into the
// next number (found by fuzzing), and a long run of digit-free words that
// once made splitting cubic (a 4 KB cell took eight minutes).
func TestSplitPhoneListOddCells(t *testing.T) {
	for _, cell := range []string{
		"0000000X00000(00",
		"13812345678 " + strings.Repeat("- ", 2000) + "1",
		strings.Repeat("( ", 3000),
		"010-62345678转" + strings.Repeat("1", 300),
	} {
		pieces := splitPhoneList(cell)
		if len(pieces) == 0 {
			t.Errorf("%.40q: no pieces", cell)
		}
		for _, p := range pieces {
			if len(p.text) > len(cell) {
				t.Errorf("%.40q: piece longer than the cell", cell)
			}
		}
	}
}

func BenchmarkSplitPhoneListLongCell(b *testing.B) {
	cell := "13812345678 " + strings.Repeat("- ", 2000) + "1"
	for b.Loop() {
		splitPhoneList(cell)
	}
}
