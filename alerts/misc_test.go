package alerts

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestUUIDv5KnownVector(t *testing.T) {
	// RFC 9562 DNS namespace; Python's uuid.uuid5(NAMESPACE_DNS,
	// "www.example.com") gives the same.
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	if got, want := uuidV5(dns, "www.example.com"), "2ed6657d-e927-568b-95e1-2665a8aea6a2"; got != want {
		t.Errorf("uuidV5 = %s, want %s", got, want)
	}
	url := [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	if got := uuidV5(url, "beianwatch.notice"); got != "7aa70fc6-6871-5c2a-a80a-5511ea55c038" {
		t.Errorf("namespace derivation changed: %s", got)
	}
}

func TestNoticeIDStableAndDistinct(t *testing.T) {
	a := NoticeID(KindOwner, TypeRectification, "example.cn", "b1")
	if a != NoticeID(KindOwner, TypeRectification, "example.cn", "b1") {
		t.Error("same inputs, different ids")
	}
	seen := map[string]string{a: "base"}
	for name, id := range map[string]string{
		"other batch":  NoticeID(KindOwner, TypeRectification, "example.cn", "b2"),
		"other site":   NoticeID(KindOwner, TypeRectification, "example.com", "b1"),
		"ops kind":     NoticeID(KindOps, TypeEscalation, "example.cn", "b1"),
		"field bleed":  NoticeID(KindOwner, TypeRectification, "example.cn\nb", "1"),
		"storm, check": NoticeID(KindOps, TypeStorm, "dns", "b1"),
	} {
		if prev, dup := seen[id]; dup {
			t.Errorf("%s collides with %s: %s", name, prev, id)
		}
		seen[id] = name
	}
}

func TestNoticeIDGolden(t *testing.T) {
	// Pinned: changing the derivation would make every retry after an
	// upgrade look like a new notice to receivers.
	got := NoticeID(KindOwner, TypeRectification, "example.cn", "batch-42")
	// Computed independently: Python uuid.uuid5 in the notice namespace.
	if got != "ece73e34-34cc-51a9-8a8c-e05be1157549" {
		t.Fatalf("NoticeID = %s; the derivation changed", got)
	}
	r := newTestRenderer(t)
	out, err := r.Render(NewOwnerNotice(testSite, "batch-42", []ViolationChange{opened("footer_link_missing")}, LangZH, fixedAt))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Text, got) {
		t.Errorf("notice text lacks its id %s", got)
	}
	if got != uuidV5(noticeNamespace, "owner\nrectification\nexample.cn\nbatch-42") {
		t.Errorf("NoticeID derivation is not the documented one")
	}
}

func TestValidate(t *testing.T) {
	res := fixedAt
	good := func() *Notice {
		return NewOwnerNotice(testSite, "b", []ViolationChange{opened("footer_link_missing")}, LangZH, fixedAt)
	}
	cases := []struct {
		name string
		mut  func(n *Notice)
		want string // "" means valid
	}{
		{"valid", func(*Notice) {}, ""},
		{"language zh-CN ok", func(n *Notice) { n.Language = "zh-CN" }, ""},
		{"language empty ok", func(n *Notice) { n.Language = "" }, ""},
		{"bad language", func(n *Notice) { n.Language = "ja" }, `"ja"`},
		{"no id", func(n *Notice) { n.ID = "" }, "no id"},
		{"no sent_at", func(n *Notice) { n.SentAt = time.Time{} }, "sent_at"},
		{"no domain", func(n *Notice) { n.Site.Domain = "" }, "domain"},
		{"no violations", func(n *Notice) { n.Violations = nil }, "no violation"},
		{"bad transition", func(n *Notice) { n.Violations[0].Transition = "closed" }, `"closed"`},
		{"resolved without time", func(n *Notice) { n.Violations[0].Transition = TransitionResolved }, "resolved_at"},
		{"resolved with time", func(n *Notice) {
			n.Violations[0].Transition = TransitionResolved
			n.Violations[0].ResolvedAt = &res
		}, ""},
		{"no code", func(n *Notice) { n.Violations[0].Code = "" }, "no code"},
		{"no opened_at", func(n *Notice) { n.Violations[0].OpenedAt = time.Time{} }, "opened_at"},
		{"wrong kind", func(n *Notice) { n.Kind = KindOps }, "kind"},
		{"unknown type", func(n *Notice) { n.Type = "digest" }, `"digest"`},
		{"escalation with opened", func(n *Notice) { n.Type, n.Kind = TypeEscalation, KindOps }, "escalation notice holds"},
		{"storm without summary", func(n *Notice) { n.Type, n.Kind = TypeStorm, KindOps }, "no storm summary"},
		{"storm inconsistent", func(n *Notice) {
			n.Type, n.Kind = TypeStorm, KindOps
			n.Storm = &StormSummary{Check: "dns", Failing: 10, Total: 5}
		}, "inconsistent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := good()
			tc.mut(n)
			err := n.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	var nilNotice *Notice
	if err := nilNotice.Validate(); err == nil {
		t.Error("nil notice validated")
	}
}

func TestRedactURL(t *testing.T) {
	cases := []struct {
		in, want string
		hidden   []string
	}{
		{"https://oapi.dingtalk.com/robot/send?access_token=a1b2c3d4e5f6&timestamp=1700000000000&sign=abc%2Bdef%3D",
			"https://oapi.dingtalk.com/robot/send?access_token=REDACTED&sign=REDACTED&timestamp=REDACTED", []string{"a1b2c3d4e5f6", "abc"}},
		{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
			"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=REDACTED", []string{"693a91f6"}},
		{"https://open.feishu.cn/open-apis/bot/v2/hook/xxxxxxxx",
			"https://open.feishu.cn/open-apis/bot/v2/hook/REDACTED", []string{"xxxxxxxx"}},
		{"https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
			"https://hooks.slack.com/services/T00000000/B00000000/REDACTED", []string{"XXXXXXXX"}},
		{"https://hooks.example.cn/beian/notify", "https://hooks.example.cn/beian/notify", nil},
		{"https://hooks.example.cn/in/0f8fad5b-d9cb-469f-a165-70867728950e", "https://hooks.example.cn/in/REDACTED", []string{"0f8fad5b"}},
		{"https://bob:pa55word@hooks.example.cn/x#frag", "https://REDACTED@hooks.example.cn/x", []string{"pa55word", "frag"}},
		{"://no-scheme?token=abcdef123", "(unparseable URL)", []string{"abcdef123"}},
		{"", "(unparseable URL)", nil},
	}
	for _, tc := range cases {
		got := RedactURL(tc.in)
		if got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for _, h := range tc.hidden {
			if strings.Contains(got, h) {
				t.Errorf("RedactURL(%q) shows %q", tc.in, h)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := vendorNow
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"7", 7 * time.Second},
		{" 60 ", time.Minute},
		{"99999999999", 7 * 24 * time.Hour},
		{now.Add(2 * time.Minute).Format(http.TimeFormat), 2 * time.Minute},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tc := range cases {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestTruncateBytes: whatever the input, the result fits, is valid UTF-8,
// and is a prefix of the input plus the marker.
func TestTruncateBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("aZ9 备案号整改😀\n")
	for range 2000 {
		var b strings.Builder
		for range rng.IntN(200) {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		s, n := b.String(), 1+rng.IntN(120)
		got := truncateBytes(s, n, "…")
		if len(got) > n && len(s) > n {
			t.Fatalf("truncateBytes(%q, %d) = %d bytes", s, n, len(got))
		}
		if !utf8.ValidString(got) {
			t.Fatalf("truncateBytes(%q, %d) = %q: invalid UTF-8", s, n, got)
		}
		if !strings.HasPrefix(s, strings.TrimSuffix(got, "…")) {
			t.Fatalf("truncateBytes(%q, %d) = %q: not a prefix", s, n, got)
		}
		if len(s) <= n && got != s {
			t.Fatalf("short input changed: %q -> %q", s, got)
		}
	}
}

func TestDaysLeft(t *testing.T) {
	now := fixedAt
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{240 * time.Hour, 10},
		{216*time.Hour + time.Hour, 10},
		{time.Minute, 1},
		{0, 0},
		{-time.Minute, -1},
		{-49 * time.Hour, -3},
	} {
		if got := daysLeft(now, now.Add(tc.d)); got != tc.want {
			t.Errorf("daysLeft(+%s) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestMaskPhones(t *testing.T) {
	for in, want := range map[string]string{
		"13812345678":                     "138****5678",
		"site_head:13812345678;x:1391111": "site_head:138****5678;x:1391111",
		"+86 13812345678":                 "+86 138****5678",
		"8613812345678":                   "86138****5678",
		"京公网安备11010802012345号":            "京公网安备11010802012345号", // 14 digits: not a phone
		"京ICP备2023012345号":                "京ICP备2023012345号",
		"138****5678":                     "138****5678",
		"12345678901":                     "12345678901", // 12x is not a mobile segment
		"13812345678,13987654321":         "138****5678,139****4321",
	} {
		if got := maskPhones(in); got != want {
			t.Errorf("maskPhones(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeLanguage(t *testing.T) {
	for in, want := range map[string]string{"": "", "zh": "zh", "ZH-cn": "zh", "zh_TW": "zh", "en": "en", "en-GB": "en"} {
		got, err := NormalizeLanguage(in)
		if err != nil || got != want {
			t.Errorf("NormalizeLanguage(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := NormalizeLanguage("english"); err == nil {
		t.Error("english accepted")
	}
}

func TestFixUnknownCodeIsErrUnknownCode(t *testing.T) {
	_, _, err := newTestRenderer(t).Fix("", LangEN)
	if !errors.Is(err, ErrUnknownCode) {
		t.Errorf("err = %v", err)
	}
}
