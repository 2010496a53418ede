package beian

import (
	"fmt"
	"net/netip"
	"strings"
)

// IPRange is an inclusive address range from a filing (起始IP–终止IP). A
// single address is a range with equal ends; a CIDR prefix becomes its first
// and last address.
type IPRange struct {
	From, To netip.Addr
}

// ParseIPRange accepts "A", "A-B" (either family, both ends the same family,
// From <= To) and CIDR "P/n".
func ParseIPRange(s string) (IPRange, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return IPRange{}, fmt.Errorf("empty IP range")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return IPRange{}, fmt.Errorf("bad CIDR %q: %v", s, err)
		}
		p = p.Masked()
		return IPRange{From: p.Addr(), To: lastAddr(p)}, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	from, err := netip.ParseAddr(strings.TrimSpace(a))
	if err != nil {
		return IPRange{}, fmt.Errorf("bad start address in %q: %v", s, err)
	}
	to, err := netip.ParseAddr(strings.TrimSpace(b))
	if err != nil {
		return IPRange{}, fmt.Errorf("bad end address in %q: %v", s, err)
	}
	from, to = from.Unmap(), to.Unmap()
	if from.Is4() != to.Is4() {
		return IPRange{}, fmt.Errorf("range %q mixes IPv4 and IPv6", s)
	}
	if to.Less(from) {
		return IPRange{}, fmt.Errorf("range %q ends before it starts", s)
	}
	return IPRange{From: from, To: to}, nil
}

// Contains reports whether a lies in the range (IPv4-mapped IPv6 addresses
// count as IPv4).
func (r IPRange) Contains(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() != r.From.Is4() {
		return false
	}
	return r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0
}

func (r IPRange) String() string {
	if r.From == r.To {
		return r.From.String()
	}
	return r.From.String() + "-" + r.To.String()
}

// InRanges reports whether a lies in any of the ranges.
func InRanges(a netip.Addr, ranges []IPRange) bool {
	for _, r := range ranges {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		lo := i * 8
		switch {
		case bits <= lo:
			b[i] = 0xff
		case bits < lo+8:
			b[i] |= 0xff >> (bits - lo)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
