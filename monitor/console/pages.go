package console

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/dossier"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// maxListed bounds each list on a page; the API pages through the rest.
const maxListed = 200

type violationRow struct {
	lifecycle.State
	Site Site
}

type checkCount struct {
	Check                                        string
	Pass, Fail, Inconclusive, NotApplicable, Sum int
}

type codeCount struct {
	Code                                       string
	Pending, Open, Escalated, Resolved, Exempt int
}

func (c *Console) overview(w http.ResponseWriter, r *request) {
	ctx := r.Context()
	q := r.URL.Query()
	tagF, entityF, codeF := strings.TrimSpace(q.Get("tag")), strings.TrimSpace(q.Get("entity")), strings.TrimSpace(q.Get("code"))
	sites := c.o.Sites()
	byDomain := make(map[string]Site, len(sites))
	entities := map[string]bool{}
	tags := map[string]bool{}
	for _, s := range sites {
		byDomain[s.Domain] = s
		if s.Entity != "" {
			entities[s.Entity] = true
		}
		for _, t := range s.Tags {
			tags[t.String()] = true
		}
	}
	keep := func(s Site) bool {
		if entityF != "" && s.Entity != entityF {
			return false
		}
		if tagF != "" && !slices.ContainsFunc(s.Tags, func(t Tag) bool { return t.String() == tagF || t.Key == tagF }) {
			return false
		}
		return true
	}

	outcomes, err := c.o.Store.OutcomeCounts(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	byCheck := map[string]*checkCount{}
	for _, name := range beian.Checks() {
		byCheck[name] = &checkCount{Check: name}
	}
	for _, oc := range outcomes {
		cc := byCheck[oc.Check]
		if cc == nil {
			cc = &checkCount{Check: oc.Check}
			byCheck[oc.Check] = cc
		}
		switch oc.Outcome {
		case beian.Pass:
			cc.Pass += oc.Count
		case beian.Fail:
			cc.Fail += oc.Count
		case beian.Inconclusive:
			cc.Inconclusive += oc.Count
		case beian.NotApplicable:
			cc.NotApplicable += oc.Count
		}
		cc.Sum += oc.Count
	}
	var checkRows []checkCount
	for _, cc := range byCheck {
		checkRows = append(checkRows, *cc)
	}
	sort.Slice(checkRows, func(i, j int) bool { return checkRows[i].Check < checkRows[j].Check })

	statuses, err := c.o.Store.StatusCounts(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	byCode := map[string]*codeCount{}
	var codes []string
	for _, sc := range statuses {
		cc := byCode[sc.Code]
		if cc == nil {
			cc = &codeCount{Code: sc.Code}
			byCode[sc.Code] = cc
			codes = append(codes, sc.Code)
		}
		switch sc.Status {
		case lifecycle.StatusPending:
			cc.Pending += sc.Count
		case lifecycle.StatusOpen:
			cc.Open += sc.Count
		case lifecycle.StatusEscalated:
			cc.Escalated += sc.Count
		case lifecycle.StatusResolved:
			cc.Resolved += sc.Count
		case lifecycle.StatusExempted:
			cc.Exempt += sc.Count
		}
	}
	sort.Strings(codes)
	var codeRows []codeCount
	for _, code := range codes {
		codeRows = append(codeRows, *byCode[code])
	}

	active, err := c.o.Store.Violations(ctx, store.ViolationFilter{Code: codeF,
		Statuses: []lifecycle.Status{lifecycle.StatusOpen, lifecycle.StatusEscalated}, Limit: 1 << 30})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var rows []violationRow
	for _, v := range active {
		s, ok := byDomain[v.Domain]
		if !ok {
			s = Site{Domain: v.Domain}
		}
		if !keep(s) {
			continue
		}
		v.Message, v.Evidence = dossier.Mask(v.Message), ""
		rows = append(rows, violationRow{State: v, Site: s})
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Deadline.Before(rows[j].Deadline) })
	total := len(rows)
	if len(rows) > maxListed {
		rows = rows[:maxListed]
	}

	counts, err := c.o.Store.NoticeCounts(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	oldest, queued, err := c.o.Store.OldestNotice(ctx, store.NoticeQueued)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var oldestAge time.Duration
	if queued {
		oldestAge = c.o.Now().Sub(oldest)
	}
	attention, err := c.o.Store.Notices(ctx, store.NoticeFilter{
		States: []store.NoticeState{store.NoticeHeld, store.NoticeDead, store.NoticeDropped}, Limit: 50})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for i := range attention {
		attention[i].LastError = dossier.Mask(attention[i].LastError)
	}
	var allCodes []string
	for code := range byCode {
		allCodes = append(allCodes, code)
	}
	sort.Strings(allCodes)

	c.render(w, r.Request, http.StatusOK, "overview", map[string]any{
		"Sites": len(sites), "Checks": checkRows, "Codes": codeRows, "Violations": rows, "ViolationsTotal": total,
		"NoticeCounts": noticeCounts(counts), "NoticeStates": []string{"queued", "sending", "held", "delivered", "dead", "dropped"}, "OldestQueued": oldestAge, "HasQueued": queued, "Attention": attention,
		"Filter":   map[string]string{"Tag": tagF, "Entity": entityF, "Code": codeF},
		"Entities": sortedKeys(entities), "Tags": sortedKeys(tags), "AllCodes": allCodes,
	}, r.s)
}

func noticeCounts(m map[store.NoticeState]int) map[string]int {
	out := map[string]int{}
	for _, st := range []store.NoticeState{store.NoticeQueued, store.NoticeHeld, store.NoticeSending, store.NoticeDelivered, store.NoticeDead, store.NoticeDropped} {
		out[string(st)] = m[st]
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// event is one line of a site's timeline.
type event struct {
	At       time.Time
	Kind     string // run, transition, notice, attempt, audit
	Title    string
	Detail   string
	NoticeID string
	Bad      bool
}

type resultView struct {
	store.SiteResult
	Exempt []string
}

func (c *Console) sitePage(w http.ResponseWriter, r *request) {
	ctx := r.Context()
	domain, err := beian.NormalizeDomain(r.PathValue("domain"))
	if err != nil {
		c.fail(w, r, fmt.Errorf("%w: %w", store.ErrInvalid, err))
		return
	}
	site, ok := c.o.Site(domain)
	if !ok {
		c.fail(w, r, fmt.Errorf("site %s: %w", domain, store.ErrNotFound))
		return
	}
	now := c.o.Now()
	latest, err := c.o.Store.LatestResults(ctx, domain)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	exemptions, err := c.o.Store.Exemptions(ctx, store.ExemptionFilter{Domain: domain})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var results []resultView
	for _, l := range latest {
		l.Result = l.Result.MapText(dossier.Mask)
		rv := resultView{SiteResult: l}
		for _, f := range l.Result.Findings {
			for _, e := range exemptions {
				if f.Severity == beian.Violation && e.Active(now) && e.Covers(f.Code) && !slices.Contains(rv.Exempt, f.Code) {
					rv.Exempt = append(rv.Exempt, f.Code)
				}
			}
		}
		results = append(results, rv)
	}
	viols, err := c.o.Store.Violations(ctx, store.ViolationFilter{Domain: domain})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for i := range viols {
		viols[i].Message, viols[i].Evidence = dossier.Mask(viols[i].Message), dossier.Mask(viols[i].Evidence)
	}

	var timeline []event
	runs, err := c.o.Store.Runs(ctx, domain, "", 100)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, run := range runs {
		var codes []string
		for _, f := range run.Result.Findings {
			codes = append(codes, f.Code)
		}
		timeline = append(timeline, event{At: run.At, Kind: "run", Title: run.Result.Check + " " + string(run.Result.Outcome),
			Detail: dossier.Mask(strings.TrimSpace(strings.Join(codes, " ") + " " + run.Result.Reason)), Bad: run.Result.Outcome == beian.Fail})
	}
	trs, err := c.o.Store.SiteTransitions(ctx, domain, time.Time{}, time.Time{})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, t := range trs {
		timeline = append(timeline, event{At: t.At, Kind: "transition", Title: string(t.Kind) + " " + t.Code,
			Detail: dossier.Mask(t.Reason), NoticeID: t.NoticeID, Bad: t.Kind == lifecycle.KindOpened || t.Kind == lifecycle.KindEscalated})
	}
	notices, err := c.o.Store.Notices(ctx, store.NoticeFilter{Domain: domain, Limit: maxListed})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, n := range notices {
		timeline = append(timeline, event{At: n.CreatedAt, Kind: "notice", Title: string(n.Kind) + " notice " + string(n.State),
			NoticeID: n.ID, Bad: n.State == store.NoticeDead})
		atts, err := c.o.Store.Attempts(ctx, n.ID)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		for _, a := range atts {
			detail := a.Channel
			if a.StatusCode > 0 {
				detail += fmt.Sprintf(" HTTP %d", a.StatusCode)
			}
			if a.Error != "" {
				detail += " " + a.Error
			}
			timeline = append(timeline, event{At: a.At, Kind: "attempt", Title: "attempt", Detail: dossier.Mask(detail),
				NoticeID: n.ID, Bad: a.Error != ""})
		}
	}
	trail, err := c.o.Store.AuditTrail(ctx, domain, 0)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, a := range trail {
		timeline = append(timeline, event{At: a.At, Kind: "audit", Title: a.Action + " · " + a.Actor,
			Detail: dossier.Mask(strings.TrimSpace(a.Subject + " " + a.Reason))})
	}
	// Newest first; at the same instant, in the order things happen: a
	// run, the transition it caused, the notice, its attempts, then what
	// people did.
	rank := map[string]int{"run": 0, "transition": 1, "notice": 2, "attempt": 3, "audit": 4}
	sort.SliceStable(timeline, func(i, j int) bool {
		if !timeline[i].At.Equal(timeline[j].At) {
			return timeline[i].At.After(timeline[j].At)
		}
		return rank[timeline[i].Kind] > rank[timeline[j].Kind]
	})
	if len(timeline) > maxListed {
		timeline = timeline[:maxListed]
	}

	var shots []Screenshot
	if c.o.Screenshots != nil {
		if shots, err = c.o.Screenshots.List(ctx, domain); err != nil {
			c.o.Logger.Warn("console: listing screenshots", "domain", domain, "err", err)
		}
	}
	for i := range exemptions {
		exemptions[i].Reason = dossier.Mask(exemptions[i].Reason)
	}
	c.render(w, r.Request, http.StatusOK, "site", map[string]any{
		"Site": site, "Results": results, "Violations": viols, "Timeline": timeline, "Exemptions": exemptions,
		"Now": now, "Screenshots": shots, "Checks": beian.Checks(), "Flash": r.URL.Query().Get("done"),
	}, r.s)
}

func (c *Console) screenshot(w http.ResponseWriter, r *request) {
	if c.o.Screenshots == nil {
		http.NotFound(w, r.Request)
		return
	}
	domain, err := beian.NormalizeDomain(r.PathValue("domain"))
	if err != nil {
		http.NotFound(w, r.Request)
		return
	}
	body, ctype, err := c.o.Screenshots.Open(r.Context(), domain, r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r.Request)
		return
	}
	defer body.Close()
	if !strings.HasPrefix(ctype, "image/") {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	io.Copy(w, body)
}

func (c *Console) noticePage(w http.ResponseWriter, r *request) {
	ctx := r.Context()
	n, err := c.o.Store.Notice(ctx, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	atts, err := c.o.Store.Attempts(ctx, n.ID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for i := range atts {
		atts[i].BodyExcerpt, atts[i].Error, atts[i].SentText = dossier.Mask(atts[i].BodyExcerpt), dossier.Mask(atts[i].Error), dossier.Mask(atts[i].SentText)
	}
	n.LastError = dossier.Mask(n.LastError)
	for i := range n.Payload.Transitions {
		t := &n.Payload.Transitions[i]
		t.Message, t.Evidence, t.Reason = dossier.Mask(t.Message), dossier.Mask(t.Evidence), dossier.Mask(t.Reason)
	}
	// The exact text sent is the one the last attempt carried (every
	// attempt sends the same body; the signed headers differ).
	text := ""
	for _, a := range atts {
		if a.SentText != "" {
			text = a.SentText
		}
	}
	c.render(w, r.Request, http.StatusOK, "notice", map[string]any{"Notice": n, "Attempts": atts, "Text": text}, r.s)
}

func (c *Console) dossierPage(w http.ResponseWriter, r *request) {
	domain, err := beian.NormalizeDomain(r.PathValue("domain"))
	if err != nil {
		c.fail(w, r, fmt.Errorf("%w: %w", store.ErrInvalid, err))
		return
	}
	var from, to time.Time
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := r.URL.Query().Get(name); v != "" {
			t, err := time.ParseInLocation("2006-01-02", v, dossier.Shanghai)
			if err != nil {
				c.fail(w, r, fmt.Errorf("%w: %s: want a date like 2026-01-31", store.ErrInvalid, name))
				return
			}
			if name == "to" {
				t = t.AddDate(0, 0, 1)
			}
			*dst = t
		}
	}
	d, err := c.o.Dossier(r.Context(), domain, from, to)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	html, err := dossier.HTML(d, c.o.Now())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	// The dossier is self-contained and printable; its own inline style
	// is allowed on this page only.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(html)
}

func (c *Console) checkNow(w http.ResponseWriter, r *request) {
	domain, err := beian.NormalizeDomain(r.PathValue("domain"))
	if err != nil {
		c.fail(w, r, fmt.Errorf("%w: %w", store.ErrInvalid, err))
		return
	}
	if _, ok := c.o.Site(domain); !ok {
		c.fail(w, r, fmt.Errorf("site %s: %w", domain, store.ErrNotFound))
		return
	}
	queued, err := c.o.Check(r.Context(), domain)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.o.Store.Audit(r.Context(), store.AuditEntry{At: c.o.Now(), Actor: r.s.actor, Action: store.AuditCheckRequested,
		Domain: domain, Subject: strings.Join(queued, ",")}); err != nil {
		c.fail(w, r, err)
		return
	}
	c.o.Logger.Info("console: check requested", "who", r.s.actor, "domain", domain, "checks", queued)
	c.back(w, r, domain, "check")
}

func (c *Console) addExemption(w http.ResponseWriter, r *request) {
	domain := r.PathValue("domain")
	f := ExemptionForm{Site: domain, Code: strings.TrimSpace(r.PostFormValue("code")), Check: strings.TrimSpace(r.PostFormValue("check")),
		Until: r.PostFormValue("until"), Reason: r.PostFormValue("reason"), By: r.s.actor}
	// The form offers both fields; a code wins over its own check.
	if f.Code != "" && f.Check != "" && lifecycle.CheckOf(f.Code) == f.Check {
		f.Check = ""
	}
	ex, trs, err := c.o.AddExemption(r.Context(), f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.o.Logger.Info("console: exemption added", "who", r.s.actor, "id", ex.ID, "domain", ex.Domain, "scope", ex.Scope(), "closed", len(trs))
	c.back(w, r, ex.Domain, "exempted")
}

func (c *Console) removeExemption(w http.ResponseWriter, r *request) {
	id, err := store.ParseExemptionID(r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ex, err := c.o.RemoveExemption(r.Context(), id, r.s.actor, r.PostFormValue("reason"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.o.Logger.Info("console: exemption removed", "who", r.s.actor, "id", ex.ID, "domain", ex.Domain)
	c.back(w, r, ex.Domain, "unexempted")
}

// back sends the browser to the site page after an action (POST, then
// redirect, then GET: a reload does not repeat the action).
func (c *Console) back(w http.ResponseWriter, r *request, domain, done string) {
	v := url.Values{"done": {done}}
	http.Redirect(w, r.Request, "/ui/sites/"+url.PathEscape(domain)+"?"+v.Encode(), http.StatusSeeOther)
}
