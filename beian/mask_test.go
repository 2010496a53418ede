package beian

import "testing"

func TestMaskMobilesIn(t *testing.T) {
	for in, want := range map[string]string{
		"客服 13812345678":             "客服 138****5678",
		"+8613812345678":             "+86138****5678",
		"13812345678,13987654321":    "138****5678,139****4321",
		"京公网安备11010802012345号":       "京公网安备11010802012345号",
		"京ICP备2020123456号-1":         "京ICP备2020123456号-1",
		"A 203.0.113.5":              "A 203.0.113.5",
		"no digits":                  "no digits",
		"site_head:13812345678;x:01": "site_head:138****5678;x:01",
	} {
		if got := MaskMobilesIn(in); got != want {
			t.Errorf("MaskMobilesIn(%q) = %q, want %q", in, got, want)
		}
	}
}
