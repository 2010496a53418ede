package checks

import (
	"context"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// maxEvidence bounds how many records or reasons a finding lists.
const maxEvidence = 8

// DNSCheck verifies that a site in first filing (首次备案) does not
// resolve: the domain and www. must give no A, AAAA or CNAME answer at any
// configured resolver nor at the zone's authoritative servers.
type DNSCheck struct {
	r *Resolver
}

var _ Checker = (*DNSCheck)(nil)

// NewDNSCheck builds the dns check on r; with r.AuthoritativeEnabled() the
// zone's authoritative servers are asked too.
func NewDNSCheck(r *Resolver) *DNSCheck { return &DNSCheck{r: r} }

func (c *DNSCheck) Name() string { return CheckDNS }

func (c *DNSCheck) Applies(site *Site) (bool, string) {
	if site == nil {
		return false, "no site"
	}
	if site.Status != StatusFirstFilingPending {
		return false, fmt.Sprintf("the DNS pause applies only to sites in first filing (first_filing_pending); this site is %s", orNone(string(site.Status)))
	}
	return true, ""
}

func orNone(s string) string {
	if s == "" {
		return "without a status"
	}
	return s
}

// Check asks every server about DOMAIN and www.DOMAIN for A, AAAA and CNAME.
// Records from any server are a fact and a violation even when other
// servers could not be asked; a pass needs NXDOMAIN or NODATA from every
// server for every question.
func (c *DNSCheck) Check(ctx context.Context, site *Site) Result {
	if c.r == nil {
		return inconclusive("no DNS resolver configured")
	}
	domain, err := NormalizeDomain(site.Domain)
	if err != nil {
		return inconclusive(fmt.Sprintf("cannot check the domain: %v", err))
	}
	names := []string{domain, "www." + domain}
	var records, unknown []string
	var asked int
	// What the zone's own servers said, apart from the resolvers: when
	// every one of them says the names are gone, records still held by a
	// resolver's cache are the pause taking effect, not the owner's doing.
	var authRecords, authAnswers, authNegative int
	var cacheTTL uint32
	details := map[string]string{}
	for _, name := range names {
		answers, err := c.r.LookupTypes(ctx, name, dns.TypeA, dns.TypeAAAA, dns.TypeCNAME)
		if err != nil {
			// The name came from NormalizeDomain: this is a bug, but say so
			// rather than pass.
			return inconclusive(fmt.Sprintf("looking up %s: %v", name, err))
		}
		var nx, nodata, rec, unk int
		for _, a := range answers {
			asked++
			if a.Authoritative {
				authAnswers++
			}
			switch a.Kind {
			case KindRecords:
				rec++
				for _, r := range a.Records {
					records = appendUnique(records, fmt.Sprintf("%s at %s", r, a.Server))
					if !a.Authoritative {
						cacheTTL = max(cacheTTL, r.TTL)
					}
				}
				if a.Authoritative {
					authRecords++
				}
			case KindNXDomain:
				nx++
				if a.Authoritative {
					authNegative++
				}
			case KindNoData:
				nodata++
				if a.Authoritative {
					authNegative++
				}
			default:
				unk++
				unknown = appendUnique(unknown, fmt.Sprintf("%s %s at %s: %v", a.Name, a.TypeString(), a.Server, a.Err))
			}
		}
		details[name] = fmt.Sprintf("%d answers with records, %d NXDOMAIN, %d NODATA, %d unknown", rec, nx, nodata, unk)
	}
	details["servers"] = strings.Join(c.r.Servers(), ", ")
	if c.r.AuthoritativeEnabled() {
		details["servers"] += " and the zone's authoritative servers"
	}
	if len(records) > 0 && authRecords == 0 && authAnswers > 0 && authNegative == authAnswers {
		r := inconclusive(fmt.Sprintf("paused at the zone's authoritative servers (no record in any of their %d answers), "+
			"but resolvers' caches still hold records for up to %d s: the pause is taking effect (%s)",
			authAnswers, cacheTTL, joinCapped(records, 3)))
		r.Details = details
		return r
	}
	if len(records) > 0 {
		return Result{
			Outcome: Fail,
			Details: details,
			Findings: []Finding{{
				Code:     CodeDNSResolvingWhilePending,
				Severity: Violation,
				Message: fmt.Sprintf("%s is in first filing but resolves: the domain and www.%s must not resolve until the filing is granted (pause DNS resolution)",
					domain, domain),
				Evidence: joinCapped(records, maxEvidence),
			}},
		}
	}
	if len(unknown) > 0 {
		r := inconclusive(fmt.Sprintf("no server answered with records, but %d of %d answers could not be had: %s",
			len(unknown), asked, joinCapped(unknown, 3)))
		r.Details = details
		return r
	}
	return Result{Outcome: Pass, Details: details}
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// joinCapped joins at most max items and says how many were left out.
func joinCapped(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(items[:max], "; "), len(items)-max)
}
