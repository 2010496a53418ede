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
	"slices"
	"strings"
	"time"

	"github.com/beianwatch/beianwatch/beian"
)

// SiteReport is one site's results, in the JSON shape of `beianwatch
// check` (docs/operations.md) with the entity added.
type SiteReport struct {
	Domain  string         `json:"domain"`
	ICP     string         `json:"icp,omitempty"`
	PSB     string         `json:"psb,omitempty"`
	Status  beian.Status   `json:"status"`
	Entity  string         `json:"entity,omitempty"`
	Results []beian.Result `json:"results"`
	// Exempt lists the finding codes an exemption in force covers
	// (docs/operations.md, "Exemptions"): still reported, not acted on.
	Exempt []string `json:"exempt,omitempty"`
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
			Sites:   map[beian.Outcome]int{beian.Pass: 0, beian.Fail: 0, beian.Inconclusive: 0},
			Results: map[string]map[beian.Outcome]int{},
		},
		codes: map[string]*CodeCount{},
		sites: sp,
	}, nil
}

// Add records one site. Free text is masked on the way in: the entity is
// an inventory cell, and personal filings sometimes put a number there.
func (b *Builder) Add(s SiteReport) error {
	s.Entity = MaskMobiles(s.Entity)
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
