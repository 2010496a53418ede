package checks

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beianwatch/beianwatch/beian"
)

type phoneCase struct {
	line                   int
	input, kind, e164, ext string
	errSubstr              string
}

func loadPhoneCases(t *testing.T) []phoneCase {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "contact", "phones.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []phoneCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" && !strings.Contains(line, "\t") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 5 {
			t.Fatalf("phones.tsv:%d: want 5 tab-separated columns, got %d", n, len(cols))
		}
		cases = append(cases, phoneCase{line: n, input: cols[0], kind: cols[1], e164: cols[2], ext: cols[3], errSubstr: cols[4]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 50 {
		t.Fatalf("only %d cases loaded from phones.tsv", len(cases))
	}
	return cases
}

func TestParsePhone(t *testing.T) {
	for _, tc := range loadPhoneCases(t) {
		t.Run(fmt.Sprintf("line%d", tc.line), func(t *testing.T) {
			p, err := ParsePhone(tc.input)
			if tc.kind == "invalid" || tc.kind == "undetermined" {
				if err == nil {
					t.Fatalf("ParsePhone(%q) = %+v, want error containing %q", tc.input, p.E164, tc.errSubstr)
				}
				// An undetermined number called invalid is a false
				// violation; an invalid one called undetermined is a
				// missed one.
				if want := tc.kind == "undetermined"; PhoneUndetermined(err) != want || errors.Is(err, ErrInvalidPhone) == want {
					t.Errorf("ParsePhone(%q) error %q: undetermined=%v, want %s", tc.input, err, PhoneUndetermined(err), tc.kind)
				}
				if !strings.Contains(err.Error(), tc.errSubstr) {
					t.Errorf("ParsePhone(%q) error = %q, want it to contain %q", tc.input, err, tc.errSubstr)
				}
				assertNoNumberLeak(t, err.Error(), tc.input)
				return
			}
			if err != nil {
				t.Fatalf("ParsePhone(%q): %v", tc.input, err)
			}
			if string(p.Kind) != tc.kind || p.E164 != tc.e164 || p.Ext != tc.ext {
				t.Errorf("ParsePhone(%q) = {%s %s ext=%q}, want {%s %s ext=%q}", tc.input, p.Kind, p.E164, p.Ext, tc.kind, tc.e164, tc.ext)
			}
			switch p.Kind {
			case PhoneMobile:
				if p.Segment != strings.TrimPrefix(p.E164, "+86")[:3] || p.AreaCode != "" {
					t.Errorf("mobile %s: segment %q, area code %q", p.Masked(), p.Segment, p.AreaCode)
				}
			case PhoneLandline:
				if !strings.HasPrefix(p.National(), p.AreaCode) || p.AreaCode == "" || p.Segment != "" {
					t.Errorf("landline %s: area code %q, national %s", p.Masked(), p.AreaCode, p.Masked())
				}
			}
			// Normalising is idempotent: the E.164 form parses to itself.
			again, err := ParsePhone(p.E164)
			if err != nil || again.E164 != p.E164 || again.Kind != p.Kind {
				t.Errorf("re-parsing %s: %v, %v", p.Masked(), again.E164, err)
			}
		})
	}
}

// Characters a spreadsheet or a copy from a phone's contacts leaves in a
// cell, invisible when the owner looks at it: they must not make a number
// invalid. Kept here rather than in phones.tsv, where they could not be
// seen.
func TestParsePhoneInvisibleCharacters(t *testing.T) {
	for _, in := range []string{
		"13812345678\u200b", // zero-width space
		"\u200b13812345678",
		"\u00a013812345678\u00a0", // no-break space
		"138\u00a01234\u00a05678",
		"13812345678\u3000",             // ideographic space
		"\ufeff13812345678",             // byte-order mark
		"\u202a+86 138 1234 5678\u202c", // LTR embedding from a contacts app
		"\u200e13812345678",             // LTR mark
		"138\u00ad1234\u00ad5678",       // soft hyphen
		"138\u20601234\u20605678",       // word joiner
		"13812345678\r\n",               // CSV line ending
		"\t13812345678",                 // tab some exports prepend to keep text
		"138\u20111234\u20115678",       // non-breaking hyphen
		"\u201813812345678\u2019",       // curly quotes
	} {
		p, err := ParsePhone(in)
		if err != nil || p.E164 != "+8613812345678" {
			t.Errorf("ParsePhone(%+q) = %q, %v; want +8613812345678", in, p.E164, err)
		}
	}
}

// Every allocated segment is accepted, every other 1xx is not: the data and
// the function agree over the whole space.
func TestMobileSegmentsExhaustive(t *testing.T) {
	allocated := 0
	for seg := 100; seg <= 199; seg++ {
		s := fmt.Sprint(seg)
		_, want := MobileSegmentOperator(s)
		_, err := ParsePhone(s + "12345678")
		if want && err != nil {
			t.Errorf("allocated segment %s rejected: %v", s, err)
		}
		if !want && err == nil {
			t.Errorf("segment %s accepted but not allocated", s)
		}
		if want {
			allocated++
		}
	}
	// 13x, 145–149, 15x without 154, 162/165/166/167, 170–178, 18x, 19x
	// without 194: 10+5+9+4+9+10+9.
	if allocated != 56 {
		t.Errorf("%d allocated segments, want 56 (update this count with the data)", allocated)
	}
}

func TestMaskPhone(t *testing.T) {
	cases := []struct{ in, want string }{
		{"13812345678", "138****5678"},
		{"+86 138 1234 5678", "138****5678"},
		{"+8613812345678", "138****5678"},
		{"0086-138-1234-5678", "138****5678"},
		{"010-62345678", "010****5678"},
		{"010-62345678-123", "010****5678"},
		{"0755-86123456", "075****3456"},
		{"+861062345678", "010****5678"},
		{"15412345678", "154****5678"}, // invalid, still masked the same way
		{"1381234567", "****4567"},
		{"62345678", "****5678"},
		{"1234567", "****67"},
		{"12345", "****5"},
		{"123", "****"},
		{"138abcd5678", "****78"},
		{"abc", "****"},
		{"", ""},
		{"   ", ""},
	}
	for _, tc := range cases {
		if got := MaskPhone(tc.in); got != tc.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPhoneFormsAreMasked(t *testing.T) {
	p, err := ParsePhone("13812345678")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "phone", p)
	for _, s := range []string{
		fmt.Sprint(p), fmt.Sprintf("%v %+v %s %#v", p, p, p, p),
		fmt.Sprintf("%v", []Phone{p}), buf.String(),
	} {
		assertNoNumberLeak(t, s, "13812345678")
		if !strings.Contains(s, "138****5678") {
			t.Errorf("%q does not show the masked number", s)
		}
	}
}

func TestMaskNumbersIn(t *testing.T) {
	in := "call 138 1234 5678 or +86-10-62345678 or 138.1234.5678, ref 2024, dial tcp 203.0.113.5:443"
	got := maskNumbersIn(in)
	assertNoNumberLeak(t, got, "13812345678")
	assertNoNumberLeak(t, got, "1062345678")
	if !strings.Contains(got, "ref 2024") || !strings.Contains(got, "203.0.113.5:443") {
		t.Errorf("short numbers and addresses should survive: %q", got)
	}
}

func TestParseContactFlag(t *testing.T) {
	cases := []struct {
		in        string
		want      Contact
		errSubstr string
	}{
		{in: "site_head:13812345678", want: Contact{Role: RoleSiteHead, Phone: "13812345678"}},
		{in: "entity_head:010-62345678", want: Contact{Role: RoleEntityHead, Phone: "010-62345678"}},
		{in: "Emergency: +86 138 1234 5678", want: Contact{Role: RoleEmergency, Phone: "+86 138 1234 5678"}},
		{in: "site-head:13812345678", want: Contact{Role: RoleSiteHead, Phone: "13812345678"}},
		{in: "网站负责人:13812345678", want: Contact{Role: RoleSiteHead, Phone: "13812345678"}},
		// An invalid number is the check's business, not a usage error.
		{in: "site_head:15412345678", want: Contact{Role: RoleSiteHead, Phone: "15412345678"}},
		{in: "owner:13812345678", errSubstr: `unknown contact role "owner"`},
		{in: ":13812345678", errSubstr: "empty contact role"},
		{in: "site_head:", errSubstr: "no phone number"},
		{in: "13812345678", errSubstr: "want ROLE:PHONE"},
	}
	for _, tc := range cases {
		got, err := ParseContactFlag(tc.in)
		if tc.errSubstr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errSubstr) {
				t.Errorf("ParseContactFlag(%q) error = %v, want %q", tc.in, err, tc.errSubstr)
			}
			if err != nil {
				assertNoNumberLeak(t, err.Error(), "13812345678")
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseContactFlag(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// assertNoNumberLeak fails when s contains the digits of number (ignoring
// separators in s) anywhere, or any run of its digits longer than four.
func assertNoNumberLeak(t *testing.T, s, number string) {
	t.Helper()
	var nd strings.Builder
	for _, r := range number {
		if r >= '0' && r <= '9' {
			nd.WriteRune(r)
		}
	}
	digits := nd.String()
	if len(digits) < 7 {
		return
	}
	// Only digits of s, so "138 1234 5678" is caught too.
	var sd strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			sd.WriteRune(r)
		} else if r != ' ' && r != '-' && r != '(' && r != ')' && r != '+' {
			sd.WriteRune('|')
		}
	}
	// The local part (last 8 digits) is what identifies a person; it must
	// never appear whole.
	local := digits[max(0, len(digits)-8):]
	if strings.Contains(sd.String(), local) {
		t.Errorf("number leaked in %q", s)
	}
}

func FuzzParsePhone(f *testing.F) {
	for _, s := range []string{"13812345678", "+86 10 6234 5678", "010-62345678-123", "0086", "转", "1" + strings.Repeat("9", 40), "\x00", "(((", "+", "86"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePhone(s)
		m := MaskPhone(s)
		if s != "" && strings.TrimSpace(s) != "" && !strings.Contains(m, "****") {
			t.Fatalf("MaskPhone(%q) = %q has no mask", s, m)
		}
		digits := 0
		for _, r := range m {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		if digits > 7 {
			t.Fatalf("MaskPhone(%q) = %q shows %d digits", s, m, digits)
		}
		if err == nil && !e164Pattern.MatchString(p.E164) {
			t.Fatalf("ParsePhone(%q) gave non-E.164 %q", s, p.E164)
		}
	})
}

func BenchmarkParsePhone(b *testing.B) {
	for _, in := range []string{"13812345678", "+86 138 1234 5678", "010-62345678", "0755-86123456-8888"} {
		b.Run(in, func(b *testing.B) {
			for b.Loop() {
				if _, err := ParsePhone(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMaskPhone(b *testing.B) {
	for b.Loop() {
		_ = MaskPhone("13812345678")
	}
}

func TestMaskNumbersInLandline(t *testing.T) {
	if got := MaskNumbersIn("boss:010-62345678"); strings.Contains(got, "62345678") {
		t.Errorf("MaskNumbersIn left a landline: %q", got)
	}
}

// beian.MaskE164 masks without phone metadata what MaskPhone masks with
// it, for every kind of number the number-status cache stores.
func TestMaskE164AgreesWithMaskPhone(t *testing.T) {
	for _, raw := range []string{"13812345678", "19912345678", "010-62345678", "0755-12345678", "021-12345678",
		"0571-87654321", "0917-1234567", "0898-66123456", "+86 138 1234 5678", "010-62345678 转 801"} {
		p, err := ParsePhone(raw)
		if err != nil {
			t.Fatalf("ParsePhone(%q): %v", raw, err)
		}
		if got, want := beian.MaskE164(p.E164), MaskPhone(p.E164); got != want {
			t.Errorf("MaskE164(%s) = %q, MaskPhone = %q", p.Masked(), got, want)
		}
	}
	for _, s := range []string{"", "garbage", "12345"} {
		if got, want := beian.MaskE164(s), MaskPhone(s); got != want {
			t.Errorf("MaskE164(%q) = %q, MaskPhone = %q", s, got, want)
		}
	}
}
