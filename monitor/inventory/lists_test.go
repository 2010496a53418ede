package inventory

import (
	"strings"
	"testing"
)

// TestLintListSeparatorsAndRanges: lists inside a cell are ';'-separated
// (docs/operations.md). A cell listed with commas (quoted, so the CSV still
// reads) must be rejected with a hint, not loaded as one odd value: a
// contact "site_head:138...,entity_head:010-..." would otherwise reach the
// contact check as one malformed phone and open a false
// contact_invalid_format violation against the owner. A CIDR with host
// bits set is ambiguous (the block, or the one address?) and is rejected
// rather than silently widened to the block.
func TestLintListSeparatorsAndRanges(t *testing.T) {
	const header = "domain,icp,status,ip_ranges,contacts\n"
	for _, tc := range []struct {
		name, row string
		field     string // "" = the record loads
		msg       string
	}{
		{"comma between contacts", `a.cn,京ICP备2023012345号-1,filed,,"site_head:13812345678,entity_head:010-62345678"`, "contacts", "';'"},
		{"full-width comma between contacts", `a.cn,京ICP备2023012345号-1,filed,,site_head:13812345678，entity_head:010-62345678`, "contacts", "';'"},
		{"ideographic comma between contacts", `a.cn,京ICP备2023012345号-1,filed,,site_head:13812345678、emergency:13912345678`, "contacts", "';'"},
		{"two roles glued without a separator", `a.cn,京ICP备2023012345号-1,filed,,site_head:13812345678 emergency:13912345678`, "contacts", "';'"},
		{"comma between ranges", `a.cn,京ICP备2023012345号-1,filed,"203.0.113.1,203.0.113.2",`, "ip_ranges", "';'"},
		{"CIDR with host bits", `a.cn,京ICP备2023012345号-1,filed,203.0.113.5/24,`, "ip_ranges", "host bits"},
		{"IPv6 CIDR with host bits", `a.cn,京ICP备2023012345号-1,filed,2001:db8::1/64,`, "ip_ranges", "host bits"},
		{"semicolon list loads", `a.cn,京ICP备2023012345号-1,filed,203.0.113.0/24;203.0.113.9,site_head:13812345678;entity_head:010-62345678`, "", ""},
		{"single-address CIDR loads", `a.cn,京ICP备2023012345号-1,filed,203.0.113.5/32,`, "", ""},
		{"landline with extension dash loads", `a.cn,京ICP备2023012345号-1,filed,,entity_head:010-62345678`, "", ""},
		{"spaces inside a phone load", `a.cn,京ICP备2023012345号-1,filed,,site_head:138 1234 5678`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, lint, err := Parse("sites.csv", []byte(header+tc.row+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.field == "" {
				if len(lint) != 0 || inv.Len() != 1 {
					t.Fatalf("want the record loaded, got %d sites and lint %v", inv.Len(), lint)
				}
				return
			}
			if inv.Len() != 0 || len(lint) != 1 {
				t.Fatalf("want the record rejected with one lint error, got %d sites and lint %v", inv.Len(), lint)
			}
			l := lint[0]
			if l.Line != 2 || l.Field != tc.field || !strings.Contains(l.Msg, tc.msg) {
				t.Errorf("lint %q, want line 2, field %s, message containing %q", l.Error(), tc.field, tc.msg)
			}
			for _, phone := range []string{"13812345678", "13912345678", "62345678"} {
				if strings.Contains(l.Error(), phone) {
					t.Errorf("lint shows a phone number: %s", l.Error())
				}
			}
		})
	}
}
