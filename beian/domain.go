package beian

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// NormalizeDomain turns a site domain as people write it (any case,
// internationalised, a trailing dot, full-width dots) into its lower-case
// ASCII form (punycode for IDNs), and rejects what cannot be a website's
// domain name with a specific reason.
func NormalizeDomain(s string) (string, error) {
	name, err := NormalizeName(s)
	if err != nil {
		return "", err
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("domain %q: needs at least two labels (like example.cn)", s)
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return "", fmt.Errorf("domain %q: an IP address is not a domain name", s)
	}
	return name, nil
}

// NormalizeName is NormalizeDomain without the website rules: one label is
// allowed, so that the resolver can be asked about any host name.
func NormalizeName(s string) (string, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty domain name")
	}
	if strings.ContainsAny(s, "/:@ \t") {
		return "", fmt.Errorf("domain %q: not a bare domain name (remove scheme, port, path or spaces)", orig)
	}
	// The UTS #46 mapping folds full-width and ideographic full stops to
	// '.', so drop one trailing dot of any kind after mapping, not before.
	ascii, err := idna.Lookup.ToASCII(strings.TrimSuffix(s, "."))
	if err != nil {
		return "", fmt.Errorf("domain %q: %v%s", orig, err, labelHint(s))
	}
	ascii = strings.TrimSuffix(strings.ToLower(ascii), ".")
	if ascii == "" {
		return "", fmt.Errorf("domain %q: empty after normalisation", orig)
	}
	if len(ascii) > 253 {
		return "", fmt.Errorf("domain %q: %d characters, longer than the 253 allowed", orig, len(ascii))
	}
	for _, l := range strings.Split(ascii, ".") {
		switch {
		case l == "":
			return "", fmt.Errorf("domain %q: empty label", orig)
		case len(l) > 63:
			return "", fmt.Errorf("domain %q: label %q is %d characters, longer than the 63 allowed", orig, l, len(l))
		}
	}
	return ascii, nil
}

// labelHint explains the common reasons idna rejects a label, whose own
// message ("invalid label") leaves people guessing.
func labelHint(s string) string {
	for _, l := range strings.Split(s, ".") {
		switch {
		case strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-"):
			return fmt.Sprintf(" (label %q starts or ends with a hyphen)", l)
		case strings.Contains(l, "_"):
			return fmt.Sprintf(" (label %q has an underscore)", l)
		}
	}
	return ""
}
