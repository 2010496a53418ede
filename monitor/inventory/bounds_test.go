package inventory

import (
	"strings"
	"testing"
)

// A hostile or broken export must not be echoed whole into logs and
// `validate`: oversized cells are refused with their size, and every
// message quotes at most MaxQuoted characters of a cell.
func TestCellCaps(t *testing.T) {
	const header = "domain,icp,status,entity,url,tags\n"
	const good = "good.cn,京ICP备12345678号-1,filed,,,\n"
	huge := strings.Repeat("a", 10<<20) + ".cn"
	longURL := "ftp://" + strings.Repeat("x", 3000)
	cases := []struct {
		name      string
		file      string
		data      string
		wantField string
		wantMsg   string
	}{
		{"10 MB domain", "i.csv", header + huge + ",京ICP备12345678号-1,filed,,,\n" + good,
			"domain", "cell is 10485763 characters, more than the limit of 253"},
		{"254-character domain", "i.csv", header + strings.Repeat("b", 251) + ".cn,京ICP备12345678号-1,filed,,,\n" + good,
			"domain", "cell is 254 characters, more than the limit of 253"},
		{"5 KB entity", "i.csv", header + "e.cn,京ICP备12345678号-1,filed," + strings.Repeat("公", 2000) + ",,\n" + good,
			"entity", "cell is 6000 bytes, more than the limit of 4096"},
		{"bad URL under the cap is quoted short", "i.csv", header + "u.cn,京ICP备12345678号-1,filed,," + longURL + ",\n" + good,
			"url", "want an http:// or https:// URL"},
		{"5 KB tag list", "i.csv", header + "t.cn,京ICP备12345678号-1,filed,,," + strings.Repeat("k=v;", 1300) + "\n" + good,
			"tags", "more than the limit of 4096"},
		{"YAML 10 MB domain", "i.yaml", "- domain: " + huge + "\n  icp: 京ICP备12345678号-1\n  status: filed\n- domain: good.cn\n  icp: 京ICP备12345678号-1\n  status: filed\n",
			"domain", "more than the limit of 253"},
		{"YAML 5 KB contact list", "i.yaml", "- domain: c.cn\n  icp: 京ICP备12345678号-1\n  status: filed\n  contacts: [" + strings.Repeat("\"site_head:13812345678\", ", 250) + "]\n- domain: good.cn\n  icp: 京ICP备12345678号-1\n  status: filed\n",
			"contacts", "more than the limit of 4096"},
		{"YAML huge unknown key", "i.yaml", "- domain: k.cn\n  icp: 京ICP备12345678号-1\n  status: filed\n  " + strings.Repeat("z", 1000) + ": 1\n- domain: good.cn\n  icp: 京ICP备12345678号-1\n  status: filed\n",
			"", "unknown key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv, lint, err := Parse(tc.file, []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if inv.Len() != 1 || inv.Lookup("good.cn") == nil {
				t.Errorf("the good record did not load: %d sites", inv.Len())
			}
			if len(lint) != 1 {
				t.Fatalf("got %d lint errors, want 1: %v", len(lint), lint)
			}
			l := lint[0]
			if tc.wantField != "" && l.Field != tc.wantField {
				t.Errorf("field %q, want %q", l.Field, tc.wantField)
			}
			if !strings.Contains(l.Msg, tc.wantMsg) {
				t.Errorf("msg %.300q does not say %q", l.Msg, tc.wantMsg)
			}
			if n := len([]rune(l.Domain)); n > MaxQuoted+20 {
				t.Errorf("lint domain is %d characters", n)
			}
			// About 200 characters of the cell, plus the explanation.
			if n := len(l.Error()); n > 700 {
				t.Errorf("lint message is %d bytes: %.300q…", n, l.Error())
			}
		})
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"short", "short"},
		{strings.Repeat("a", MaxQuoted), strings.Repeat("a", MaxQuoted)},
		{strings.Repeat("a", MaxQuoted+1), strings.Repeat("a", MaxQuoted) + "… (201 bytes)"},
		{strings.Repeat("公", MaxQuoted+5), strings.Repeat("公", MaxQuoted) + "… (615 bytes)"},
	} {
		if got := clip(tc.in); got != tc.want {
			t.Errorf("clip(%d bytes) = %.40q…, want %.40q…", len(tc.in), got, tc.want)
		}
	}
}
