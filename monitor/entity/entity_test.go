package entity

import (
	"strings"
	"testing"

	"github.com/beianwatch/beianwatch/checks"
)

func icp(t *testing.T, s string) *checks.ICPNumber {
	t.Helper()
	n, err := checks.ParseICP(s)
	if err != nil {
		t.Fatal(err)
	}
	return &n
}

func TestKey(t *testing.T) {
	tests := []struct {
		icp, name, want string
	}{
		{"京ICP备12345678号-3", "示例科技有限公司", "京ICP备12345678号"},
		{"京ICP备12345678号", "", "京ICP备12345678号"},
		{"蜀ICP备12345678号-1", "", "川ICP备12345678号"}, // aliases fold
		{"", "  示例科技有限公司 ", "示例科技有限公司"},
		{"", "", ""},
	}
	for _, tt := range tests {
		var n *checks.ICPNumber
		if tt.icp != "" {
			n = icp(t, tt.icp)
		}
		if got := Key(n, tt.name); got != tt.want {
			t.Errorf("Key(%q, %q) = %q, want %q", tt.icp, tt.name, got, tt.want)
		}
	}
}

// TestEvaluate: an entity is an empty shell only when every filed site is
// a confirmed shell or cancelled, with at least one shell; a live site,
// a site under a filing procedure or an unknown state prevents it.
func TestEvaluate(t *testing.T) {
	type site struct {
		domain, icp, entity string
		status              checks.Status
		shell               Shell
	}
	filed := checks.StatusFiled
	tests := []struct {
		name   string
		sites  []site
		want   Outcome
		site   string // Verdict.Site
		shells string
	}{
		{"every site a confirmed shell", []site{
			{"b.cn", "京ICP备11111111号-2", "甲", filed, Confirmed},
			{"a.cn", "京ICP备11111111号-1", "甲", filed, Confirmed},
		}, EmptyShell, "a.cn", "a.cn,b.cn"},
		{"shells and cancelled", []site{
			{"a.cn", "京ICP备11111111号-1", "甲", checks.StatusCancelled, Unknown},
			{"b.cn", "京ICP备11111111号-2", "甲", filed, Confirmed},
		}, EmptyShell, "b.cn", "b.cn"},
		{"one live site keeps the entity alive", []site{
			{"a.cn", "京ICP备11111111号-1", "甲", filed, Confirmed},
			{"b.cn", "京ICP备11111111号-2", "甲", filed, Live},
		}, Alive, "", "a.cn"},
		{"a live site beats an unknown one", []site{
			{"a.cn", "京ICP备11111111号-1", "甲", filed, Unknown},
			{"b.cn", "京ICP备11111111号-2", "甲", filed, Live},
		}, Alive, "", ""},
		{"one inconclusive site: not judged", []site{
			{"a.cn", "京ICP备11111111号-1", "甲", filed, Confirmed},
			{"b.cn", "京ICP备11111111号-2", "甲", filed, Unknown},
		}, Undetermined, "", "a.cn"},
		{"a site under first filing is not a shell", []site{
			{"a.cn", "京ICP备11111111号-1", "甲", filed, Confirmed},
			{"b.cn", "京ICP备11111111号-2", "甲", checks.StatusFirstFilingPending, Unknown},
		}, Alive, "", "a.cn"},
		{"all cancelled: gone, nobody to tell", []site{
			{"a.cn", "京ICP备11111111号-1", "甲", checks.StatusCancelled, Unknown},
		}, Gone, "", ""},
		{"one-site entity, a shell", []site{
			{"a.cn", "京ICP备11111111号-1", "甲", filed, Confirmed},
		}, EmptyShell, "a.cn", "a.cn"},
		{"grouped by the filing number, whatever the names say", []site{
			{"a.cn", "京ICP备11111111号-1", "甲公司", filed, Confirmed},
			{"b.cn", "京ICP备11111111号-2", "甲有限公司", filed, Live},
		}, Alive, "", "a.cn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in []Site
			for _, s := range tt.sites {
				in = append(in, Site{Domain: s.domain, ICP: icp(t, s.icp), Entity: s.entity, Status: s.status, Shell: s.shell})
			}
			vs := Evaluate(in)
			if len(vs) != 1 {
				t.Fatalf("%d verdicts, want 1: %+v", len(vs), vs)
			}
			v := vs[0]
			if v.Outcome != tt.want || v.Site != tt.site || strings.Join(v.Shells, ",") != tt.shells {
				t.Errorf("verdict %+v, want %v on %q with shells %q", v, tt.want, tt.site, tt.shells)
			}
			if v.Key != "京ICP备11111111号" || len(v.Domains) != len(tt.sites) {
				t.Errorf("key %q domains %v", v.Key, v.Domains)
			}
		})
	}
}

// TestEvaluateSeparatesEntities: sites of different entities are judged
// apart; a site with neither number nor name is nobody's.
func TestEvaluateSeparatesEntities(t *testing.T) {
	vs := Evaluate([]Site{
		{Domain: "a.cn", ICP: icp(t, "京ICP备11111111号-1"), Status: checks.StatusFiled, Shell: Confirmed},
		{Domain: "b.cn", ICP: icp(t, "京ICP备22222222号-1"), Status: checks.StatusFiled, Shell: Live},
		{Domain: "c.cn", Entity: "个人 张三", Status: checks.StatusFiled, Shell: Confirmed},
		{Domain: "d.cn", Status: checks.StatusFiled, Shell: Confirmed},
	})
	got := map[string]Outcome{}
	for _, v := range vs {
		got[v.Key] = v.Outcome
	}
	want := map[string]Outcome{"京ICP备11111111号": EmptyShell, "京ICP备22222222号": Alive, "个人 张三": EmptyShell}
	if len(got) != len(want) {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
	for k, o := range want {
		if got[k] != o {
			t.Errorf("%s: %v, want %v", k, got[k], o)
		}
	}
}

func TestResult(t *testing.T) {
	v := Verdict{Key: "京ICP备11111111号", Name: "甲 13812345678", Outcome: EmptyShell, Site: "a.cn",
		Shells: []string{"a.cn", "b.cn"}, Cancelled: []string{"c.cn"}}
	r := v.Result()
	if r.Check != Check || r.Outcome != checks.Fail || len(r.Findings) != 1 || r.Findings[0].Code != CodeEmptyShell ||
		r.Findings[0].Severity != checks.Violation {
		t.Fatalf("result %+v", r)
	}
	if ev := r.Findings[0].Evidence; ev != "entity=京ICP备11111111号 shells=a.cn,b.cn cancelled=c.cn" {
		t.Errorf("evidence %q", ev)
	}
	if strings.Contains(r.Findings[0].Message, "13812345678") {
		t.Errorf("unmasked mobile in %q", r.Findings[0].Message)
	}
	v.Outcome, v.Unknown = Undetermined, []string{"b.cn"}
	if r := v.Result(); r.Outcome != checks.Inconclusive || len(r.Findings) != 0 || !strings.Contains(r.Reason, "b.cn") {
		t.Errorf("undetermined: %+v", r)
	}
	v.Outcome = Alive
	if r := v.Result(); r.Outcome != checks.Pass || len(r.Findings) != 0 {
		t.Errorf("alive: %+v", r)
	}
}
