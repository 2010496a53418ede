package inventory

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/checks"
)

type wantLint struct {
	line  int
	field string
	msg   string // substring
}

func checkLint(t *testing.T, got []LintError, want []wantLint) {
	t.Helper()
	if len(got) != len(want) {
		for _, l := range got {
			t.Log(l.Error())
		}
		t.Fatalf("got %d lint errors, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Line != w.line || g.Field != w.field || !strings.Contains(g.Msg, w.msg) {
			t.Errorf("lint %d = {line %d, field %q, msg %q}, want {line %d, field %q, msg containing %q}",
				i, g.Line, g.Field, g.Msg, w.line, w.field, w.msg)
		}
	}
}

func TestLintCSV(t *testing.T) {
	inv, lint, err := Load(filepath.Join("testdata", "lint.csv"))
	if err != nil {
		t.Fatal(err)
	}
	checkLint(t, lint, []wantLint{
		{3, "icp", "malformed ICP number"},
		{4, "psb", "malformed PSB number"},
		{5, "psb", "province code 11"},
		{6, "status", `unknown status "active"`},
		{7, "ip_ranges", "203.0.113.300"},
		{8, "domain", "duplicate domain example.cn: first listed at line 2"},
		{9, "domain", "not a bare domain name"},
		{10, "contacts", "want role:phone"}, // swapped: a number where the role goes
		{11, "contacts", "want role:phone"},
		{12, "owner_channel", `unknown channel "email"`},
		{13, "owner_url", "want an http:// or https:// URL"},
		{14, "tags", `tag "customer": want key=value`},
		{15, "icp", "required"},
		{16, "status", "required"},
		{17, "", "row has 4 cells, the header has 12"},
		{19, "icp", "licence"},
		{20, "owner_secret_env", "not a valid environment variable name"},
		{21, "url", "want an http:// or https:// URL"},
		{22, "tags", `tag "a" given twice`},
		{23, "icp", "malformed ICP number"},
		{23, "status", `unknown status "pending"`},
		{25, "owner_url", "wecom: URL https://qyapi.weixin.qq.com/cgi-bin/webhook/send has no key"},
		{26, "owner_secret_env", "webhook: a signing secret is required"},
	})
	for _, l := range lint {
		s := l.Error()
		for _, secret := range []string{"13812345678", "s3cr3t", "sk-live-9f8e7d6c5b4a"} {
			if strings.Contains(s, secret) {
				t.Errorf("lint message shows %q: %s", secret, s)
			}
		}
		if l.Domain == "" && l.Line != 17 {
			t.Errorf("lint at line %d has no domain", l.Line)
		}
	}
	if lint[7].Domain != "bad-role.example.cn" || !strings.Contains(lint[7].Error(), "line 10 (bad-role.example.cn): contacts: ") {
		t.Errorf("lint error names its record poorly: %q", lint[7].Error())
	}

	// The good records load, the bad ones do not.
	var domains []string
	for _, s := range inv.Sites {
		domains = append(domains, s.Domain)
	}
	if got, want := strings.Join(domains, ","), "example.cn,odd-phone.example.cn,access.example.cn"; got != want {
		t.Fatalf("loaded %s, want %s", got, want)
	}

	ex := inv.Lookup("example.cn")
	if ex.Line != 2 || ex.ICP.String() != "京ICP备2023012345号-1" || ex.PSB.Code != "11010802012345" ||
		ex.Status != beian.StatusFiled || ex.Entity != "示例科技有限公司" || len(ex.IPRanges) != 1 ||
		ex.Owner != (Channel{Kind: "webhook", URL: "https://hooks.example.cn/beian", SecretEnv: "EXAMPLE_HOOK_SECRET"}) ||
		!hasTag(ex.Tags, "customer", "acme") {
		t.Errorf("example.cn loaded as %+v", ex)
	}
	// A phone the contact check will call malformed is its finding to make:
	// the record stays.
	if odd := inv.Lookup("odd-phone.example.cn"); odd == nil || len(odd.Contacts) != 1 || odd.Contacts[0] != (beian.Contact{Role: "site_head", Phone: "12345"}) {
		t.Errorf("odd phone record: %+v", odd)
	}
	// Full-width separators, mixed case status and kind, an APP suffix.
	acc := inv.Lookup("access.example.cn")
	if acc == nil || acc.Status != beian.StatusAccessPending || len(acc.IPRanges) != 2 || acc.ICP.Suffix != "2A" ||
		len(acc.Contacts) != 1 || acc.Contacts[0].Role != "site_head" || acc.Owner.Kind != "slack" {
		t.Errorf("access.example.cn loaded as %+v", acc)
	}
}

func TestLintYAML(t *testing.T) {
	inv, lint, err := Load(filepath.Join("testdata", "lint.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checkLint(t, lint, []wantLint{
		{11, "owner", "unknown key"},
		{12, "", "want a site"},
		{18, "ip_ranges", "ends before it starts"},
		{20, "icp", "want a single value"},
		{20, "icp", "required"},
		{22, "domain", "first listed at line 1"},
		{25, "status", "required"},
	})
	if inv.Len() != 1 {
		t.Fatalf("loaded %d sites, want 1", inv.Len())
	}
	ex := inv.Lookup("example.cn")
	want := []beian.Contact{{Role: "site_head", Phone: "13812345678"}, {Role: "emergency", Phone: "021-61234567"}}
	if ex == nil || len(ex.Contacts) != 2 || ex.Contacts[0] != want[0] || ex.Contacts[1] != want[1] || !hasTag(ex.Tags, "customer", "acme") {
		t.Errorf("example.cn loaded as %+v", ex)
	}
}

// A phone number typed into the wrong column is quoted back by the lint
// message, and lint goes to logs, to "beianwatch validate" and to audit
// output: it must come out masked whoever prints it.
func TestLintMasksPhoneNumbers(t *testing.T) {
	const header = "domain,icp,status,tags\n"
	tests := []struct {
		name  string
		file  string
		data  string
		field string
	}{
		{name: "tag", file: "x.csv", data: header + "a.example.cn,京ICP备2023012345号-1,filed,13812345678\n", field: FieldTags},
		{name: "tag key twice", file: "x.csv", data: header + "a.example.cn,京ICP备2023012345号-1,filed,13812345678=a;13812345678=b\n", field: FieldTags},
		{name: "status", file: "x.csv", data: header + "a.example.cn,京ICP备2023012345号-1,13812345678,\n", field: FieldStatus},
		{name: "status with words", file: "x.csv", data: header + "a.example.cn,京ICP备2023012345号-1,tel13812345678,\n", field: FieldStatus},
		{name: "icp", file: "x.csv", data: header + "a.example.cn,13812345678,filed,\n", field: FieldICP},
		{name: "domain", file: "x.csv", data: header + "13812345678,京ICP备2023012345号-1,filed,\n", field: FieldDomain},
		{name: "domain with country code", file: "x.csv", data: header + "+86 13812345678,京ICP备2023012345号-1,filed,\n", field: FieldDomain},
		{name: "YAML key", file: "x.yaml", data: "- domain: a.example.cn\n  icp: 京ICP备2023012345号-1\n  status: filed\n  13812345678: x\n", field: "138****5678"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, lint, err := Parse(tt.file, []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if inv.Len() != 0 || len(lint) == 0 {
				t.Fatalf("record not rejected: %d sites, lint %v", inv.Len(), lint)
			}
			for _, l := range lint {
				if l.Field != tt.field {
					t.Errorf("field %q, want %q", l.Field, tt.field)
				}
				for _, s := range []string{l.Error(), l.Domain, l.Field, l.Msg} {
					if strings.Contains(s, "13812345678") {
						t.Errorf("lint shows the number: %q", s)
					}
				}
				if !strings.Contains(l.Error(), "138****5678") {
					t.Errorf("lint %q lost what was wrong with the record", l.Error())
				}
			}
		})
	}
}

func TestExamples(t *testing.T) {
	csvInv, lint, err := Load(filepath.Join("..", "..", "configs", "sites.example.csv"))
	if err != nil || len(lint) > 0 {
		t.Fatalf("example CSV: %v %v", err, lint)
	}
	yamlInv, lint, err := Load(filepath.Join("..", "..", "configs", "sites.example.yaml"))
	if err != nil || len(lint) > 0 {
		t.Fatalf("example YAML: %v %v", err, lint)
	}
	if csvInv.Len() != 5 || yamlInv.Len() != 5 {
		t.Fatalf("examples hold %d and %d sites, want 5", csvInv.Len(), yamlInv.Len())
	}
	// The two examples describe the same sites.
	for i, c := range csvInv.Sites {
		y := yamlInv.Sites[i]
		c2, y2 := *c, *y
		c2.Line, y2.Line = 0, 0
		if !sameSite(c2, y2) {
			t.Errorf("site %d differs:\ncsv  %+v\nyaml %+v", i, c2, y2)
		}
	}
	// Every field is shown somewhere in the CSV example.
	seen := map[string]bool{}
	for _, s := range csvInv.Sites {
		seen["psb"] = seen["psb"] || s.PSB != nil
		seen["url"] = seen["url"] || s.URL != ""
		seen["ip_ranges"] = seen["ip_ranges"] || len(s.IPRanges) > 0
		seen["contacts"] = seen["contacts"] || len(s.Contacts) > 0
		seen["owner"] = seen["owner"] || (s.Owner.Kind != "" && s.Owner.SecretEnv != "")
		seen["tags"] = seen["tags"] || len(s.Tags) > 0
		seen["entity"] = seen["entity"] || s.Entity != ""
	}
	if len(seen) != 7 {
		t.Fatalf("internal: %v", seen)
	}
	for f, ok := range seen {
		if !ok {
			t.Errorf("the CSV example never shows %s", f)
		}
	}
	if csvInv.Lookup("示例.cn") == nil || csvInv.Lookup("xn--fsq092h.cn") == nil {
		t.Error("IDN site not found by either form")
	}
}

func sameSite(a, b Site) bool {
	if a.Domain != b.Domain || a.Status != b.Status || a.Entity != b.Entity || a.URL != b.URL || a.Owner != b.Owner ||
		*a.ICP != *b.ICP || (a.PSB == nil) != (b.PSB == nil) || (a.PSB != nil && *a.PSB != *b.PSB) ||
		len(a.IPRanges) != len(b.IPRanges) || len(a.Contacts) != len(b.Contacts) || len(a.Tags) != len(b.Tags) {
		return false
	}
	for i := range a.IPRanges {
		if a.IPRanges[i] != b.IPRanges[i] {
			return false
		}
	}
	for i := range a.Contacts {
		if a.Contacts[i] != b.Contacts[i] {
			return false
		}
	}
	for _, tag := range a.Tags {
		if v, _ := b.Tags.Get(tag.Key); v != tag.Value {
			return false
		}
	}
	return true
}

func TestEncodings(t *testing.T) {
	tests := []struct {
		file     string
		encoding string
		domain   string
		entity   string
	}{
		{"bom.csv", "utf-8", "bom.example.cn", "示例科技有限公司"},
		{"gbk.csv", "gb18030", "xn--fsq092h.cn", "示例网络(深圳)有限公司"},
		{"gbk.csv", "gb18030", "gbk.example.cn", "北京示例科技有限公司"},
	}
	for _, tt := range tests {
		p := filepath.Join("testdata", tt.file)
		if tt.encoding == "gb18030" {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if utf8.Valid(raw) {
				t.Fatalf("fixture %s should not be valid UTF-8", tt.file)
			}
		}
		inv, lint, err := Load(p)
		if err != nil || len(lint) > 0 {
			t.Fatalf("%s: %v %v", tt.file, err, lint)
		}
		if inv.Encoding != tt.encoding {
			t.Errorf("%s: encoding %q, want %q", tt.file, inv.Encoding, tt.encoding)
		}
		s := inv.Lookup(tt.domain)
		if s == nil || s.Entity != tt.entity {
			t.Errorf("%s: %s loaded as %+v", tt.file, tt.domain, s)
		}
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name, file, content, want string
	}{
		{"unknown column", "s.csv", "domain,icp,status,owner\n", `s.csv:1: unknown column "owner"`},
		{"header after comments", "s.csv", "# exported 2026-03-01\ndomain,icp,stat\n", `s.csv:2: unknown column "stat"`},
		{"missing required column", "s.csv", "domain,icp,entity\n", "lacks required column status"},
		{"duplicate column", "s.csv", "domain,icp,status,icp\n", `column "icp" appears twice`},
		{"empty csv", "s.csv", "", "a header row is required"},
		{"utf-16", "s.csv", "\xff\xfed\x00o\x00", "UTF-16"},
		{"not text", "s.csv", "domain,icp,status\n\xff\xff\xff,\x80\x80,\x81\n", "neither UTF-8 nor GB18030"},
		{"yaml not a list", "s.yaml", "domain: example.cn\n", "s.yaml:1: want a list of sites"},
		{"yaml syntax", "s.yaml", "- domain: a.cn\n  icp: [x\n", "YAML syntax"},
		{"extension", "s.txt", "domain,icp,status\n", `unknown format ".txt"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, _, err := Parse(tt.file, []byte(tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want containing %q", err, tt.want)
			}
			if inv != nil {
				t.Error("an inventory came back with a file error")
			}
		})
	}
	if _, _, err := Load(filepath.Join(t.TempDir(), "none.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestCSVTolerance(t *testing.T) {
	content := strings.Join([]string{
		"# sites exported from the filing system",
		"Status , ICP,Domain,,",
		"filed,京ICP备2023012345号-1,a.example.cn,,",
		"",
		",,,,",
		"filed,京ICP备2023012346号-1,b\"quote.example.cn,,",
		"filed,京ICP备2023012347号-1,c.example.cn,,",
		"filed,京ICP备2023012348号-1,d.example.cn,,stray",
		`filed,"京ICP备2023012349号-1",e.example.cn,,`,
	}, "\n")
	inv, lint, err := Parse("s.csv", []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	checkLint(t, lint, []wantLint{
		{6, "", "unreadable CSV row"},
		{8, "", "value in column 5, which has no header"},
	})
	var got []string
	for _, s := range inv.Sites {
		got = append(got, s.Domain)
	}
	if strings.Join(got, ",") != "a.example.cn,c.example.cn,e.example.cn" {
		t.Errorf("loaded %v", got)
	}
	// A header with no records is an empty inventory, not an error.
	inv, lint, err = Parse("s.csv", []byte("domain,icp,status\n"))
	if err != nil || len(lint) > 0 || inv.Len() != 0 {
		t.Errorf("header only: %v %v %d", err, lint, inv.Len())
	}
}

func TestLookup(t *testing.T) {
	inv, _, err := Load(filepath.Join("..", "..", "configs", "sites.example.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"example.cn", "EXAMPLE.CN", "example.cn.", " example.cn "} {
		if s := inv.Lookup(q); s == nil || s.Domain != "example.cn" {
			t.Errorf("Lookup(%q) = %v", q, s)
		}
	}
	for _, q := range []string{"www.example.cn", "missing.cn", "", "::"} {
		if s := inv.Lookup(q); s != nil {
			t.Errorf("Lookup(%q) = %v, want nil", q, s.Domain)
		}
	}
	var none *Inventory
	if none.Lookup("example.cn") != nil || none.Len() != 0 {
		t.Error("nil inventory")
	}
}

func hasTag(t Tags, k, v string) bool {
	got, ok := t.Get(k)
	return ok && got == v
}

// TestContactRoles: docs/contact.md says an unknown role is a warning the
// contact check reports (contact_role_unknown), with the number still
// checked; so the loader keeps the record and its role as written. Known
// roles in Chinese are stored canonical.
func TestContactRoles(t *testing.T) {
	csv := "domain,icp,status,contacts\n" +
		"a.example.cn,京ICP备2023012345号-1,filed,boss:13812345678;主体负责人:010-62345678;应急联系人:13912345678\n"
	inv, lint, err := Parse("roles.csv", []byte(csv))
	if err != nil || len(lint) > 0 {
		t.Fatalf("%v %v", err, lint)
	}
	s := inv.Lookup("a.example.cn")
	if s == nil {
		t.Fatal("a record with an unknown contact role was rejected")
	}
	want := []checks.Contact{{Role: "boss", Phone: "13812345678"}, {Role: "entity_head", Phone: "010-62345678"}, {Role: "emergency", Phone: "13912345678"}}
	if len(s.Contacts) != len(want) {
		t.Fatalf("contacts %+v", s.Contacts)
	}
	for i := range want {
		if s.Contacts[i] != want[i] {
			t.Errorf("contact %d = %+v, want %+v", i, s.Contacts[i], want[i])
		}
	}
	res := checks.NewContactCheck(nil).Check(context.Background(), &s.Site)
	found := false
	for _, f := range res.Findings {
		if f.Code == checks.CodeContactRoleUnknown && f.Severity == checks.Warning {
			found = true
		}
	}
	if !found {
		t.Errorf("the contact check does not warn of the unknown role: %+v", res.Findings)
	}
}
