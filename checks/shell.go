package checks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// ShellCheck looks for empty-shell sites (空壳网站): a filed site that does
// not resolve, resolves away from its access provider, cannot be reached,
// or shows a placeholder instead of a website.
//
// Off-provider policy: a violation only when EVERY address of the domain
// and www. lies outside both the site's filed ranges and the provider's
// ranges, and every lookup was complete. A site that still has one address
// at the provider is still hosted there: CDNs, GeoDNS and multi-homed
// sites legitimately add addresses elsewhere, and the apex is often parked
// at a registrar's forwarding service while www. is on the provider. Such
// a mix is the warning shell_partly_off_provider, listing the outside
// addresses for a person to look at. A site fronted entirely by a CDN is
// off-provider unless the operator adds the CDN's ranges to the provider's
// ranges (or the filing's).
//
// Reachability policy ("their server is down" versus "our network is
// down"): only answers that came from their side are facts. An HTTP 5xx,
// a refused connection (an RST from their address: our packets reached
// it), a certificate that does not verify, and a redirect loop say the
// homepage cannot be had: shell_unreachable. A timeout, a reset, an
// unreachable network, a DNS failure in the fetcher, a TLS handshake that
// broke off, or an address our egress policy will not connect to may be on
// our side or in between: inconclusive. And reachability is only judged
// when our own resolution of the domain succeeded.
//
// Some facts from their side still do not show the site is down to
// people. A 5xx that is a browser check (a page carrying a bot-check
// signature, shared with the footer check; a page built by script, as the
// HTTP 521 cookie challenges are), a maintenance notice, or any 503
// (temporary by definition, with or without Retry-After) says "come back
// in a moment", not "gone". A certificate whose issuer we do not know may only lack the
// intermediate that browsers fetch by themselves, or chain to a root our
// trust store lacks: only a self-signed one is refused by every browser.
// A 5xx or a refusal on http, tried only because https failed in a way
// that may be ours, says nothing about the https site.
//
// Apex and www.: people reach a site on either. When the apex's homepage
// is a violation (a default page of the server's fallback vhost, a stale
// address that refuses) and www. resolves, www. is fetched too, and a site
// that lives there is not a shell.
type ShellCheck struct {
	r        *Resolver
	f        *Fetcher
	provider []IPRange
	detector *PlaceholderDetector
	initErr  error
}

var _ Checker = (*ShellCheck)(nil)

// NewShellCheck builds the shell check. providerRanges are the access
// provider's own address ranges; the site's filed ranges come with each
// Site. The placeholder signatures are those shipped in placeholders.json.
func NewShellCheck(r *Resolver, f *Fetcher, providerRanges []IPRange) *ShellCheck {
	d, err := DefaultPlaceholderDetector()
	return &ShellCheck{r: r, f: f, provider: slices.Clone(providerRanges), detector: d, initErr: err}
}

// WithPlaceholderDetector replaces the placeholder detector (for operators
// who maintain their own signatures).
func (c *ShellCheck) WithPlaceholderDetector(d *PlaceholderDetector) *ShellCheck {
	c.detector, c.initErr = d, nil
	return c
}

func (c *ShellCheck) Name() string { return CheckShell }

func (c *ShellCheck) Applies(site *Site) (bool, string) {
	if site == nil {
		return false, "no site"
	}
	if site.Status != StatusFiled {
		return false, fmt.Sprintf("the empty-shell check applies to filed sites; this site is %s", orNone(string(site.Status)))
	}
	return true, ""
}

// Check resolves the domain and www., compares the addresses with the
// filed and provider ranges, fetches the homepage (Site.URL when set) and
// judges it.
func (c *ShellCheck) Check(ctx context.Context, site *Site) Result {
	switch {
	case c.initErr != nil:
		return inconclusive(fmt.Sprintf("placeholder signatures: %v", c.initErr))
	case c.r == nil:
		return inconclusive("no DNS resolver configured")
	}
	domain, err := NormalizeDomain(site.Domain)
	if err != nil {
		return inconclusive(fmt.Sprintf("cannot check the domain: %v", err))
	}
	details := map[string]string{}
	var findings []Finding
	var undecided []string
	// Codes left unjudged when another code fails, so that the lifecycle
	// does not take this run as their fix.
	var unjudged []string

	// 1. Resolution.
	names := []string{domain, "www." + domain}
	results := make([]AddrResult, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() { results[i], errs[i] = c.r.LookupAddrs(ctx, n) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return inconclusive(fmt.Sprintf("looking up %s: %v", names[i], err))
		}
	}
	var addrs []netip.Addr
	owner := map[netip.Addr]string{}
	complete := true
	var resolution []string
	for _, res := range results {
		resolution = append(resolution, fmt.Sprintf("%s: %s", res.Name, describeAddrResult(res)))
		for _, a := range res.Addrs {
			if _, ok := owner[a]; !ok {
				owner[a] = res.Name
				addrs = append(addrs, a)
			}
		}
		if !allFacts(res) {
			complete = false
		}
	}
	details["resolution"] = strings.Join(resolution, "; ")
	if len(addrs) == 0 {
		if results[0].Kind.IsFact() && results[1].Kind.IsFact() {
			findings = append(findings, Finding{
				Code:     CodeShellUnresolvable,
				Severity: Violation,
				Message:  fmt.Sprintf("%s and www.%s do not resolve to any address: the filed site is not online", domain, domain),
				Evidence: strings.Join(resolution, "; ") + " (asked " + strings.Join(c.r.Servers(), ", ") + ")",
			})
			return Result{Outcome: Fail, Findings: findings, Details: details}
		}
		r := inconclusive("could not resolve the site: " + joinCapped(unknownReasons(results), 3))
		r.Details = details
		return r
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	details["addresses"] = joinAddrs(addrs)

	// 2. Addresses against the filed and provider ranges.
	allowed := append(slices.Clone(site.IPRanges), c.provider...)
	if len(allowed) == 0 {
		details["off_provider"] = "not checked: no filed or provider IP ranges"
		unjudged = append(unjudged, CodeShellOffProvider)
	} else {
		var outside []string
		for _, a := range addrs {
			if !InRanges(a, allowed) {
				outside = append(outside, fmt.Sprintf("%s (%s)", a, owner[a]))
			}
		}
		ranges := fmt.Sprintf("filed ranges [%s], provider ranges [%s]", joinRanges(site.IPRanges), joinRanges(c.provider))
		switch {
		case len(outside) == 0:
			details["off_provider"] = "all addresses inside the filed or provider ranges"
		case len(outside) == len(addrs) && complete:
			findings = append(findings, Finding{
				Code:     CodeShellOffProvider,
				Severity: Violation,
				Message:  fmt.Sprintf("%s resolves only to addresses outside its filed IP ranges and the provider's ranges: the site is no longer hosted where it was filed", domain),
				Evidence: fmt.Sprintf("%s outside %s", strings.Join(outside, ", "), ranges),
			})
		case len(outside) == len(addrs):
			undecided = append(undecided, "every address found is outside the filed and provider ranges, but some lookups failed: "+
				joinCapped(unknownReasons(results), 3))
			unjudged = append(unjudged, CodeShellOffProvider)
		default:
			findings = append(findings, Finding{
				Code:     CodeShellPartlyOffProvider,
				Severity: Warning,
				Message:  fmt.Sprintf("some addresses of %s are outside its filed IP ranges and the provider's ranges (a CDN or another host?)", domain),
				Evidence: fmt.Sprintf("%s outside %s; inside: %d of %d", strings.Join(outside, ", "), ranges, len(addrs)-len(outside), len(addrs)),
			})
		}
	}

	// 3. The homepage.
	if c.f == nil {
		undecided = append(undecided, "reachability not checked: no fetcher configured")
		details["reachability"] = "not checked"
		unjudged = append(unjudged, CodeShellUnreachable, CodeShellPlaceholder)
	} else {
		// Fetch where people can reach the site: a site served only on
		// www. is asked for there, as the apex would fail in our fetcher
		// for want of an address and not for want of a site.
		host := domain
		if len(results[0].Addrs) == 0 {
			host = "www." + domain
		}
		page, err := c.f.Homepage(ctx, host, site.URL)
		fs, why, notJudged := c.judgeHomepage(page, err, details)
		if site.URL == "" && host == domain && len(results[1].Addrs) > 0 && OutcomeOf(fs) == Fail {
			fs, why, notJudged = c.judgeWWW(ctx, domain, fs, notJudged, details)
		}
		findings = append(findings, fs...)
		if why != "" {
			undecided = append(undecided, why)
		}
		unjudged = append(unjudged, notJudged...)
	}

	r := Result{Outcome: OutcomeOf(findings), Findings: findings, Details: details}
	if r.Outcome == Fail {
		r.Unjudged = unjudged
	}
	if r.Outcome == Pass && len(undecided) > 0 {
		r.Outcome, r.Reason = Inconclusive, strings.Join(undecided, "; ")
	}
	return r
}

// judgeWWW judges www. after the apex's homepage gave the violations
// apexFindings (leaving apexUnjudged unjudged), and returns the findings,
// undecided reason and unjudged codes that stand for the site.
func (c *ShellCheck) judgeWWW(ctx context.Context, domain string, apexFindings []Finding, apexUnjudged []string, details map[string]string) ([]Finding, string, []string) {
	wwwDetails := map[string]string{}
	page, err := c.f.Homepage(ctx, "www."+domain, "")
	fs, why, notJudged := c.judgeHomepage(page, err, wwwDetails)
	apex := describeFindings(apexFindings)
	var fe *FetchError
	gone := errors.As(err, &fe) && fe.Reason == ReasonHTTPStatus && (fe.Status == 404 || fe.Status == 410)
	if OutcomeOf(fs) == Fail || gone && why == "" && onlyCode(fs, CodeShellHomepageError) {
		// Neither serves the site: the apex's violations stand.
		details["www_homepage"] = describeWWW(page, fs, why)
		return apexFindings, "", apexUnjudged
	}
	// www. decides; the apex's violations are kept for a person to read.
	details["apex_homepage"] = apex
	for k, v := range wwwDetails {
		details[k] = v
	}
	if len(fs) == 0 && why == "" {
		return nil, "", nil
	}
	// www. answers, but not with a page we can judge (an error status, a
	// timeout, a page built by script): whether the site lives there is
	// unknown.
	return fs, fmt.Sprintf("the apex's homepage is a violation (%s), but www.%s cannot be judged: %s", apex, domain, describeWWW(page, fs, why)),
		appendMissing(notJudged, CodeShellUnreachable, CodeShellPlaceholder)
}

func onlyCode(fs []Finding, code string) bool {
	for _, f := range fs {
		if f.Code != code {
			return false
		}
	}
	return true
}

func appendMissing(codes []string, more ...string) []string {
	for _, m := range more {
		if !slices.Contains(codes, m) {
			codes = append(codes, m)
		}
	}
	return codes
}

func describeWWW(page *Page, fs []Finding, why string) string {
	var parts []string
	if page != nil {
		parts = append(parts, fmt.Sprintf("%s (HTTP %d)", page.URL, page.Status))
	}
	if len(fs) > 0 {
		parts = append(parts, describeFindings(fs))
	}
	if why != "" {
		parts = append(parts, why)
	}
	if len(parts) == 0 {
		return "a page"
	}
	return strings.Join(parts, "; ")
}

// judgeHomepage turns a fetch into findings, or into a reason it cannot be
// judged, and names the codes it could not judge.
func (c *ShellCheck) judgeHomepage(page *Page, err error, details map[string]string) ([]Finding, string, []string) {
	both := []string{CodeShellUnreachable, CodeShellPlaceholder}
	if page != nil {
		details["homepage"] = fmt.Sprintf("%s (HTTP %d)", page.URL, page.Status)
	}
	if err == nil {
		fs, why := c.judgePage(page, details)
		if why != "" {
			return fs, why, []string{CodeShellPlaceholder}
		}
		return fs, "", nil
	}
	var fe *FetchError
	if !errors.As(err, &fe) {
		return nil, fmt.Sprintf("fetching the homepage: %v", err), both
	}
	unreachable := func(why string) []Finding {
		details["reachability"] = "unreachable"
		return []Finding{{
			Code:     CodeShellUnreachable,
			Severity: Violation,
			Message:  "the homepage cannot be fetched: " + why,
			Evidence: fe.Error(),
		}}
	}
	switch fe.Reason {
	case ReasonHTTPStatus:
		if fe.Status >= 500 {
			if why := c.serverErrorNotDown(page, fe); why != "" {
				details["reachability"] = fmt.Sprintf("answers HTTP %d", fe.Status)
				return nil, why, both
			}
			return unreachable(fmt.Sprintf("the server answers HTTP %d", fe.Status)), "", []string{CodeShellPlaceholder}
		}
		details["reachability"] = fmt.Sprintf("answers HTTP %d", fe.Status)
		fs := []Finding{{
			Code:     CodeShellHomepageError,
			Severity: Warning,
			Message:  fmt.Sprintf("the homepage answers HTTP %d instead of a page", fe.Status),
			Evidence: fe.Error(),
		}}
		// A hosting provider's "suspended" or "stopped" page often comes
		// with 403 or 404: look for signatures, but never let the bare
		// shortness of an error page count.
		if page != nil && len(page.Body) > 0 {
			if v := c.detector.Detect(page.Body); v.Placeholder && v.Signature != "" {
				return append(fs, placeholderFinding(v, page)), "", nil
			}
		}
		// An error page without a signature says nothing either way
		// about a placeholder.
		return fs, "", []string{CodeShellPlaceholder}
	case ReasonConnect, ReasonTLS, ReasonRedirects:
		// When http was only the fallback, its refusal is a fact only if
		// the https failure was one too: an https-only site whose answer
		// timed out on the way to us is not shown to be down by port 80.
		if why := unreachableFact(fe); why != "" && (fe.HTTPSFirst == nil || unreachableFact(fe.HTTPSFirst) != "") {
			return unreachable(why), "", []string{CodeShellPlaceholder}
		}
	case ReasonNotHTML, ReasonTooLarge:
		details["reachability"] = "reachable"
		return nil, fmt.Sprintf("placeholder not judged: %v", fe), []string{CodeShellPlaceholder}
	}
	details["reachability"] = "unknown"
	return nil, fmt.Sprintf("reachability unknown (%s may be on our side): %v", fe.Reason, fe), both
}

// serverErrorNotDown says why a 5xx answer does not show the site is down
// for people, or "" when it does.
func (c *ShellCheck) serverErrorNotDown(page *Page, fe *FetchError) string {
	if fe.HTTPSFirst != nil && unreachableFact(fe.HTTPSFirst) == "" {
		return fmt.Sprintf("reachability unknown: http answers HTTP %d, but https, which people reach first, failed in a way that may be ours: %v", fe.Status, fe.HTTPSFirst)
	}
	why := c.errorPageNotDown(page, fe.Status)
	if fe.Status != 503 {
		return why
	}
	// Temporary by definition, and nginx's limit_req answers 503 by
	// default: a shared host rate-limiting our crawl would otherwise make
	// its sites look dead.
	unavailable := "the server answers HTTP 503 Service Unavailable, which is temporary by definition (maintenance, an overloaded backend, or a rate limit such as nginx's limit_req)"
	if page != nil {
		if ra := page.Header.Get("Retry-After"); ra != "" {
			unavailable = fmt.Sprintf("the server answers HTTP 503 Service Unavailable with Retry-After %q: it says it is briefly unavailable (maintenance or rate limiting)", ra)
		}
	}
	if why != "" {
		return why + "; " + unavailable
	}
	return unavailable
}

// errorPageNotDown reads the body of a 5xx answer: a browser check, a
// maintenance notice or a page built by script says "come back", or
// "a browser gets through", rather than "gone". It returns why, or "".
func (c *ShellCheck) errorPageNotDown(page *Page, status int) string {
	if page == nil || len(page.Body) == 0 {
		return ""
	}
	if sig, ok := challengePage(page.Body); ok {
		return fmt.Sprintf("the HTTP %d answer is a browser challenge (%q): a browser runs its script and gets through", status, sig)
	}
	v := c.detector.Detect(page.Body)
	switch {
	case v.Maintenance:
		return fmt.Sprintf("the HTTP %d answer is a maintenance notice: the site says it is down for a while", status)
	case v.NeedsRendering:
		return fmt.Sprintf("the HTTP %d answer is built by script (a browser challenge?): %s", status, v.Undecided)
	}
	return ""
}

// unreachableFact says why a transport failure shows the homepage cannot
// be had from their side, or "" when it may be ours.
func unreachableFact(fe *FetchError) string {
	switch {
	case fe.Reason == ReasonConnect && errors.Is(fe, syscall.ECONNREFUSED):
		return "the connection is refused"
	case fe.Reason == ReasonTLS && certificateFact(fe):
		return "its TLS certificate does not verify"
	case fe.Reason == ReasonRedirects && errors.Is(fe, errRedirectLoop):
		return "its redirects loop"
	}
	return ""
}

// certificateFact says whether a TLS failure is a certificate every
// browser refuses: another name, expired or otherwise invalid, or
// self-signed. An unknown issuer is not, by itself: the server may only
// have left out the intermediate that browsers fetch (AIA) or preload,
// or it chains to a root (CFCA and others) our trust store lacks, or our
// trust store is missing; Go fetches no intermediates.
func certificateFact(err error) bool {
	var (
		certErr   *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &hostErr), errors.As(err, &invalid):
		return true
	case errors.As(err, &unknownCA):
		return selfSigned(unknownCA.Cert)
	case errors.As(err, &certErr):
		return len(certErr.UnverifiedCertificates) > 0 && selfSigned(certErr.UnverifiedCertificates[0])
	}
	return false
}

// selfSigned says whether a certificate names itself as its issuer and is
// signed by its own key.
func selfSigned(c *x509.Certificate) bool {
	return c != nil && bytes.Equal(c.RawIssuer, c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// describeFindings sums up findings for the result details.
func describeFindings(fs []Finding) string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = fmt.Sprintf("%s: %s (%s)", f.Code, f.Message, f.Evidence)
	}
	return strings.Join(out, "; ")
}

func (c *ShellCheck) judgePage(page *Page, details map[string]string) ([]Finding, string) {
	details["reachability"] = "reachable"
	v := c.detector.Detect(page.Body)
	details["content_runes"] = fmt.Sprint(v.ContentRunes)
	switch {
	case v.Placeholder:
		return []Finding{placeholderFinding(v, page)}, ""
	case v.Undecided != "":
		return nil, "placeholder not judged: " + v.Undecided
	}
	return nil, ""
}

func placeholderFinding(v PlaceholderVerdict, page *Page) Finding {
	what := map[string]string{
		PlaceholderDefaultPage:       "a web server's or hosting panel's default page",
		PlaceholderSuspended:         "a suspended or stopped site page",
		PlaceholderForSale:           "a parked or for-sale domain page",
		PlaceholderUnderConstruction: "an under-construction page",
		PlaceholderAlmostEmpty:       "a page with almost no content",
	}[v.Kind]
	if what == "" {
		what = "a placeholder page (" + v.Kind + ")"
	}
	return Finding{
		Code:     CodeShellPlaceholder,
		Severity: Violation,
		Message:  "the homepage is " + what + " instead of the filed website",
		Evidence: fmt.Sprintf("%s: %s", page.URL, v.Evidence),
	}
}

func allFacts(res AddrResult) bool {
	for _, a := range res.Answers {
		if !a.Kind.IsFact() {
			return false
		}
	}
	return true
}

func unknownReasons(results []AddrResult) []string {
	var out []string
	for _, res := range results {
		for _, a := range res.Answers {
			if !a.Kind.IsFact() {
				out = append(out, fmt.Sprintf("%s %s at %s: %v", a.Name, a.TypeString(), a.Server, a.Err))
			}
		}
	}
	return out
}

func describeAddrResult(res AddrResult) string {
	if res.Kind == KindRecords {
		return joinAddrs(res.Addrs)
	}
	return res.Kind.String()
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func joinRanges(rs []IPRange) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}
