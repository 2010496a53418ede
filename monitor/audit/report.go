// Package audit builds and writes the report of a one-shot audit of the
// whole inventory (`beianwatch audit`): every site's results in the
// `check` JSON shape, a summary, and three renderings: JSON for tools, CSV
// for spreadsheets and one self-contained HTML page for people.
//
// Everything that reaches a report has been through the checks' own
// masking; the report masks mobile numbers once more in every free-text
// field, because a report is made to be forwarded.
package audit

import (
	"cmp"
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/entity"
)

// SiteReport is one site's results, in the JSON shape of `beianwatch
// check` (docs/operations.md) with whom the site concerns added: the
// entity, the inventory's tags and the kind of the owner's channel (never
// its URL or secret).
type SiteReport struct {
	Domain string       `json:"domain"`
	ICP    string       `json:"icp,omitempty"`
	PSB    string       `json:"psb,omitempty"`
	Status beian.Status `json:"status"`
	Entity string       `json:"entity,omitempty"`
	// Tags are the inventory's key=value tags (customer, region, ...).
	Tags map[string]string `json:"tags,omitempty"`
	// OwnerChannel is webhook, dingtalk, wecom, feishu or slack; "" when
	// the owner has none (their notices go to the ops channel).
	OwnerChannel string         `json:"owner_channel,omitempty"`
	Results      []beian.Result `json:"results"`
	// Exempt lists the finding codes an exemption in force covers
	// (docs/operations.md, "Exemptions"): still reported, not acted on.
	Exempt []string `json:"exempt,omitempty"`
}

// BlocksFiling reports whether the site resolves while its first filing
// is under review (dns_resolving_while_pending): the one finding that
// holds up a filing, so reports show these sites first.
func (s SiteReport) BlocksFiling() bool {
	for _, r := range s.Results {
		for _, f := range r.Findings {
			if f.Code == beian.CodeDNSResolvingWhilePending && f.Severity == beian.Violation {
				return true
			}
		}
	}
	return false
}

// Verdict is the site's overall outcome: fail when any check failed, else
// inconclusive when any could not tell, else pass (not_applicable when no
// check applied).
func (s SiteReport) Verdict() beian.Outcome {
	return verdictOf(s.Results)
}

func verdictOf(rs []beian.Result) beian.Outcome {
	v := beian.NotApplicable
	for _, r := range rs {
		switch r.Outcome {
		case beian.Fail:
			return beian.Fail
		case beian.Inconclusive:
			v = beian.Inconclusive
		case beian.Pass:
			if v == beian.NotApplicable {
				v = beian.Pass
			}
		}
	}
	return v
}

// CodeCount is how often one finding code was seen.
type CodeCount struct {
	Code     string         `json:"code"`
	Check    string         `json:"check"`
	Severity beian.Severity `json:"severity"`
	// Sites is how many sites have the code; Findings how many findings
	// (a page can show the same problem twice).
	Sites    int `json:"sites"`
	Findings int `json:"findings"`
}

// Summary is the head of a report.
type Summary struct {
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	DurationMS int64     `json:"duration_ms"`
	// Partial: the audit was stopped before every site was checked; the
	// report covers the sites that were.
	Partial bool `json:"partial"`
	// Checks are the checks that were asked for.
	Checks       []string `json:"checks"`
	SitesTotal   int      `json:"sites_total"`
	SitesChecked int      `json:"sites_checked"`
	// Sites counts sites by verdict (pass, fail, inconclusive,
	// not_applicable).
	Sites map[beian.Outcome]int `json:"sites"`
	// Results counts check results by check and outcome.
	Results map[string]map[beian.Outcome]int `json:"results"`
	// Findings counts finding codes, violations first, then by the number
	// of sites.
	Findings []CodeCount `json:"findings"`
	// BlockedFilings counts sites whose first filing is held up by their
	// DNS resolving (dns_resolving_while_pending).
	BlockedFilings int `json:"blocked_filings"`
	// TagKeys are the tag keys the sites carry, sorted: what a report can
	// be grouped by besides the entity.
	TagKeys []string `json:"tag_keys"`
	// EmptyShellEntities are the entities all of whose sites this audit
	// found to be shells (or that are cancelled): 空壳主体. Judged only
	// when the shell check ran; an entity with a site the audit could not
	// judge is counted in EntitiesUndetermined instead.
	EmptyShellEntities   []EntityReport `json:"empty_shell_entities"`
	EntitiesUndetermined int            `json:"entities_undetermined"`
}

// EntityReport is one empty-shell entity.
type EntityReport struct {
	// Key is the entity filing number, or the entity name when the
	// sites have no number.
	Key       string   `json:"key"`
	Name      string   `json:"name,omitempty"`
	Shells    []string `json:"shells"`
	Cancelled []string `json:"cancelled,omitempty"`
}

// Report is a whole audit: the summary in memory, the sites on disk.
// Close it when written.
type Report struct {
	Summary Summary
	sites   *spool
}

// Sites yields every site in domain order.
func (r *Report) Sites() iter.Seq2[SiteReport, error] {
	return func(yield func(SiteReport, error) bool) {
		for raw, err := range r.sites.raw() {
			var s SiteReport
			if err == nil {
				if err = json.Unmarshal(raw, &s); err != nil {
					err = fmt.Errorf("reading the audit spool: %w", err)
				}
			}
			if !yield(s, err) || err != nil {
				return
			}
		}
	}
}

// Close releases the report's spool file.
func (r *Report) Close() error { return r.sites.close() }

// Builder collects sites as they are checked and keeps the summary
// current. It is not safe for concurrent use (monitor.Runner serialises
// its callbacks).
type Builder struct {
	sum   Summary
	codes map[string]*CodeCount
	tags  map[string]bool
	// ents is what the entity judgement needs of every site, kept when
	// the shell check runs (a few dozen bytes a site).
	ents  []entity.Site
	sites *spool
}

// NewBuilder starts a report of total sites, checked with checkNames. The
// sites are spooled to a file in dir ("" is the system's temporary
// directory).
func NewBuilder(started time.Time, total int, checkNames []string, dir string) (*Builder, error) {
	sp, err := newSpool(dir)
	if err != nil {
		return nil, err
	}
	names := slices.Clone(checkNames)
	if names == nil {
		names = []string{}
	}
	return &Builder{
		sum: Summary{
			Started: started, Checks: names, SitesTotal: total,
			Sites:   map[beian.Outcome]int{beian.Pass: 0, beian.Fail: 0, beian.Inconclusive: 0, beian.NotApplicable: 0},
			Results: map[string]map[beian.Outcome]int{},
		},
		codes: map[string]*CodeCount{},
		tags:  map[string]bool{},
		sites: sp,
	}, nil
}

// Add records one site. Free text is masked on the way in: the entity is
// an inventory cell, and personal filings sometimes put a number there.
func (b *Builder) Add(s SiteReport) error {
	s.Entity = MaskMobiles(s.Entity)
	if s.Tags != nil {
		tags := make(map[string]string, len(s.Tags))
		for k, v := range s.Tags {
			tags[MaskMobiles(k)] = MaskMobiles(v)
		}
		s.Tags = tags
	}
	s.Results = slices.Clone(s.Results)
	for i := range s.Results {
		s.Results[i] = maskResult(s.Results[i])
	}
	if s.Results == nil {
		s.Results = []beian.Result{}
	}
	if err := b.sites.add(&s); err != nil {
		return err
	}
	b.count(&s)
	return nil
}

func (b *Builder) count(s *SiteReport) {
	b.sum.SitesChecked++
	b.sum.Sites[s.Verdict()]++
	if s.BlocksFiling() {
		b.sum.BlockedFilings++
	}
	if slices.Contains(b.sum.Checks, beian.CheckShell) {
		b.ents = append(b.ents, entitySite(s))
	}
	for k := range s.Tags {
		b.tags[k] = true
	}
	var seen []string
	for _, r := range s.Results {
		byOutcome := b.sum.Results[r.Check]
		if byOutcome == nil {
			byOutcome = map[beian.Outcome]int{}
			b.sum.Results[r.Check] = byOutcome
		}
		byOutcome[r.Outcome]++
		for _, f := range r.Findings {
			c := b.codes[f.Code]
			if c == nil {
				c = &CodeCount{Code: f.Code, Check: r.Check, Severity: f.Severity}
				b.codes[f.Code] = c
			}
			if rank(f.Severity) < rank(c.Severity) {
				c.Severity = f.Severity // entity_only can be configured up to a violation
			}
			c.Findings++
			if !slices.Contains(seen, f.Code) {
				seen = append(seen, f.Code)
				c.Sites++
			}
		}
	}
}

// Abort releases the spool of a builder that will not be finished. After
// Finish the report owns the spool and Abort does nothing.
func (b *Builder) Abort() {
	if b.sites != nil {
		b.sites.close()
		b.sites = nil
	}
}

// Len is the number of sites added.
func (b *Builder) Len() int { return b.sum.SitesChecked }

// Finish completes the summary and hands the spool to the report; the
// builder is done. Sites come out sorted by domain so that two audits of
// the same inventory compare line by line.
func (b *Builder) Finish(finished time.Time, partial bool) (*Report, error) {
	if err := b.sites.seal(); err != nil {
		b.Abort()
		return nil, err
	}
	sum := b.sum
	sum.Finished, sum.Partial = finished, partial
	sum.DurationMS = finished.Sub(sum.Started).Milliseconds()
	sum.Findings = []CodeCount{}
	for _, c := range b.codes {
		sum.Findings = append(sum.Findings, *c)
	}
	slices.SortFunc(sum.Findings, func(x, y CodeCount) int {
		return cmp.Or(cmp.Compare(rank(x.Severity), rank(y.Severity)), cmp.Compare(y.Sites, x.Sites), strings.Compare(x.Code, y.Code))
	})
	sum.EmptyShellEntities = []EntityReport{}
	for _, v := range entity.Evaluate(b.ents) {
		switch v.Outcome {
		case entity.EmptyShell:
			sum.EmptyShellEntities = append(sum.EmptyShellEntities, EntityReport{
				Key: MaskMobiles(v.Key), Name: MaskMobiles(v.Name), Shells: v.Shells, Cancelled: v.Cancelled,
			})
		case entity.Undetermined:
			sum.EntitiesUndetermined++
		}
	}
	b.ents = nil
	sum.TagKeys = slices.Sorted(maps.Keys(b.tags))
	if sum.TagKeys == nil {
		sum.TagKeys = []string{}
	}
	r := &Report{Summary: sum, sites: b.sites}
	b.sites = nil
	return r, nil
}

func rank(s beian.Severity) int {
	switch s {
	case beian.Violation:
		return 0
	case beian.Warning:
		return 1
	case beian.Info:
		return 2
	}
	return 3
}

// ExitStatus follows `beianwatch check`: 1 when a violation was found, else
// 3 when something was inconclusive or the audit is partial, else 0.
func (r *Report) ExitStatus() int {
	switch {
	case r.Summary.Sites[beian.Fail] > 0:
		return 1
	case r.Summary.Sites[beian.Inconclusive] > 0 || r.Summary.Partial:
		return 3
	}
	return 0
}

// MaskMobiles masks mobile numbers in free text as 138****5678.
func MaskMobiles(s string) string { return beian.MaskMobilesIn(s) }

// maskResult masks r's free text; a result without findings gets an
// empty list, so that the JSON report says [] rather than null.
func maskResult(r beian.Result) beian.Result {
	r = r.MapText(MaskMobiles)
	if r.Findings == nil {
		r.Findings = []beian.Finding{}
	}
	return r
}

// entitySite is what the entity judgement needs of an audited site: in a
// one-shot audit, a shell violation found by this run is the confirmation
// (there is no lifecycle to wait for), a pass makes the site live, and an
// inconclusive or missing run leaves it unknown.
func entitySite(s *SiteReport) entity.Site {
	es := entity.Site{Domain: s.Domain, Entity: s.Entity, Status: s.Status}
	if n, err := beian.ParseICP(s.ICP); err == nil {
		es.ICP = &n
	}
	for _, r := range s.Results {
		if r.Check != beian.CheckShell {
			continue
		}
		switch r.Outcome {
		case beian.Pass:
			es.Shell = entity.Live
		case beian.Fail:
			es.Shell = entity.Live // a warning alone is no shell
			for _, f := range r.Findings {
				if f.Severity == beian.Violation && slices.Contains(entity.ShellCodes, f.Code) {
					es.Shell = entity.Confirmed
					es.Codes = append(es.Codes, f.Code)
				}
			}
		}
	}
	return es
}
