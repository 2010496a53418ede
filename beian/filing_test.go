package beian

import (
	"errors"
	"strings"
	"testing"
)

func TestParseICP(t *testing.T) {
	tests := []struct {
		in      string
		want    string // canonical form; "" means an error is expected
		errPart string
	}{
		{"京ICP备12345678号", "京ICP备12345678号", ""},
		{"京ICP备12345678号-1", "京ICP备12345678号-1", ""},
		{"京ICP备2023012345号-2A", "京ICP备2023012345号-2A", ""},
		{"沪ICP备123456号-3X", "沪ICP备123456号-3X", ""},
		{"粤ICP备12345678号-4K", "粤ICP备12345678号-4K", ""},
		{"京ICP备12345678-1号", "京ICP备12345678号-1", ""},
		{"京ICP备：12345678号", "京ICP备12345678号", ""},
		{"京ICP备12345678", "京ICP备12345678号", ""},
		{" 京 ICP 备 1234 5678 号 - 1 ", "京ICP备12345678号-1", ""},
		{"京ＩＣＰ备１２３４５６７８号－１", "京ICP备12345678号-1", ""},
		{"京ICP備12345678號-1", "京ICP备12345678号-1", ""},
		{"蜀ICP备12345678号", "川ICP备12345678号", ""},
		{"黔ICP备12345678号", "贵ICP备12345678号", ""},
		{"滇ICP备12345678号", "云ICP备12345678号", ""},
		{"陇ICP备12345678号", "甘ICP备12345678号", ""},
		{"京icp备12345678号", "京ICP备12345678号", ""},
		{"", "", "empty"},
		{"ICP12345", "", "province"},
		{"ICP备12345678号", "", "province"},
		{"港ICP备12345678号", "", "not a province"},
		{"京ICP备12345号", "", "5 digits"},
		{"京ICP备12345678901号", "", "11 digits"},
		{"京ICP备号", "", "no digits"},
		{"京ICP12345678号", "", `"ICP备"`},
		{"京ICP证123456号", "", "licence"},
		{"京B2-20190001", "", "licence"},
		{"京ICP备12345678号-1 hello", "", "unexpected"},
		{"京ICP备12345678号-0", "", "unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseICP(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ParseICP(%q) = %v, want error", tc.in, got)
				}
				if !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("ParseICP(%q) error %q, want it to mention %q", tc.in, err, tc.errPart)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseICP(%q): %v", tc.in, err)
			}
			if got.String() != tc.want {
				t.Fatalf("ParseICP(%q) = %s, want %s", tc.in, got, tc.want)
			}
			again, err := ParseICP(got.String())
			if err != nil || again != got {
				t.Fatalf("canonical form %s does not round-trip: %v %v", got, again, err)
			}
		})
	}
}

func TestParseICPLicence(t *testing.T) {
	for _, s := range []string{"京ICP证123456号", "粤B2-20201234"} {
		if _, err := ParseICP(s); !errors.Is(err, ErrLicence) {
			t.Errorf("ParseICP(%q) = %v, want ErrLicence", s, err)
		}
	}
}

func TestAllProvinces(t *testing.T) {
	const all = "京津沪渝冀豫云滇辽黑湘皖鲁新苏浙赣鄂桂甘陇晋蒙陕吉闽贵黔粤青藏川蜀宁琼"
	n := 0
	for _, r := range all {
		n++
		if _, err := ParseICP(string(r) + "ICP备12345678号"); err != nil {
			t.Errorf("province %c: %v", r, err)
		}
		if ProvinceCode(r) == "" {
			t.Errorf("province %c has no code", r)
		}
	}
	if n != 35 {
		t.Fatalf("%d province characters, want 35", n)
	}
	if len(provinces) != 35 {
		t.Fatalf("province table has %d entries, want 35", len(provinces))
	}
}

func TestICPCompare(t *testing.T) {
	site, _ := ParseICP("川ICP备12345678号-1")
	alias, _ := ParseICP("蜀ICP备12345678号-1")
	other, _ := ParseICP("川ICP备12345678号-2")
	if site != alias {
		t.Errorf("%v != %v: aliases must compare equal", site, alias)
	}
	if site == other || !site.SameEntity(other) {
		t.Errorf("suffixes -1 and -2 are the same entity, different sites")
	}
	if site.Entity().String() != "川ICP备12345678号" || site.Entity().IsSite() {
		t.Errorf("Entity() = %v", site.Entity())
	}
}

func TestParsePSB(t *testing.T) {
	tests := []struct {
		in, want, errPart string
	}{
		{"京公网安备11010802012345号", "京公网安备11010802012345号", ""},
		{"京公网安备 11010802012345号", "京公网安备11010802012345号", ""},
		{"公网安备11010802012345号", "京公网安备11010802012345号", ""},
		{"粤公网安备44030502001234号", "粤公网安备44030502001234号", ""},
		{"京公网安备1101080201234号", "", "13 digits"},
		{"沪公网安备11010802012345号", "", "does not match"},
		{"京公网安备99010802012345号", "", "does not match"},
		{"公网安备99010802012345号", "", "not a province code"},
		{"京ICP备12345678号", "", "公网安备"},
		{"", "", "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePSB(tc.in)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("ParsePSB(%q) = %v, %v; want error mentioning %q", tc.in, got, err, tc.errPart)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("ParsePSB(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
	icp, _ := ParseICP("京ICP备12345678号")
	psb, _ := ParsePSB("京公网安备11010802012345号")
	gd, _ := ParsePSB("粤公网安备44030502001234号")
	if !psb.MatchesProvince(icp) || gd.MatchesProvince(icp) {
		t.Error("MatchesProvince disagrees with the province codes")
	}
}

func TestFindNumbers(t *testing.T) {
	text := NormalizeNumber("版权所有 网站ICP备案：京ICP备12345678号-1 京ICP证000001号 京公网安备 11010802012345号 粤ICP备87654321号")
	icps, psbs := FindNumbers(text, nil)
	var got []string
	for _, m := range icps {
		got = append(got, m.Number.String())
	}
	if strings.Join(got, ",") != "京ICP备12345678号-1,粤ICP备87654321号" {
		t.Errorf("ICP numbers found: %v", got)
	}
	if len(psbs) != 1 || psbs[0].Number.Code != "11010802012345" {
		t.Errorf("PSB numbers found: %+v", psbs)
	}
}

// FuzzParseICP checks that parsing never panics and that whatever parses
// has a canonical form that parses back to itself.
func FuzzParseICP(f *testing.F) {
	for _, s := range []string{"京ICP备12345678号-1", "京ICP备12345678-2A号", "粤ICP备：123456", "ICP12345", "京ICP证1号", "京公网安备11010802012345号"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseICP(s)
		if err == nil {
			again, err := ParseICP(n.String())
			if err != nil || again != n {
				t.Fatalf("%q -> %v does not round-trip: %v, %v", s, n, again, err)
			}
		}
		p, err := ParsePSB(s)
		if err == nil {
			again, err := ParsePSB(p.String())
			if err != nil || again.Code != p.Code {
				t.Fatalf("PSB %q -> %v does not round-trip: %v, %v", s, p, again, err)
			}
		}
		FindNumbers(NormalizeNumber(s), nil)
	})
}
