package beian

import (
	"strings"
	"testing"
)

func TestNormalizeDomain(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "Example.CN", want: "example.cn"},
		{in: "  example.cn.  ", want: "example.cn"},
		{in: "www.example.com.cn", want: "www.example.com.cn"},
		{in: "例子.中国", want: "xn--fsqu00a.xn--fiqs8s"},
		{in: "bücher.example", want: "xn--bcher-kva.example"},
		{in: "ＥＸＡＭＰＬＥ。ｃｎ", want: "example.cn"}, // full-width letters and ideographic full stop
		{in: "xn--fsqu00a.xn--fiqs8s", want: "xn--fsqu00a.xn--fiqs8s"},
		{in: "", err: "empty"},
		{in: "   ", err: "empty"},
		{in: "example", err: "two labels"},
		{in: "a..cn", err: "label"},
		{in: ".example.cn", err: "label"},
		{in: "-bad.cn", err: "hyphen"},
		{in: "bad-.cn", err: "hyphen"},
		{in: "under_score.cn", err: "underscore"},
		{in: strings.Repeat("a", 64) + ".cn", err: "longer than the 63"},
		{in: strings.Repeat(strings.Repeat("a", 60)+".", 5) + "cn", err: "longer than the 253"},
		{in: "https://example.cn/", err: "not a bare domain"},
		{in: "example.cn:443", err: "not a bare domain"},
		{in: "192.0.2.1", err: "IP address"},
		{in: "exa mple.cn", err: "not a bare domain"},
	}
	for _, tt := range tests {
		got, err := NormalizeDomain(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("NormalizeDomain(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
