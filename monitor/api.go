package monitor

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/dossier"
	"github.com/beianwatch/beianwatch/monitor/inventory"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// storeProbeTimeout bounds /readyz's write probe: a store locked or stuck
// longer than this is not ready.
const storeProbeTimeout = 3 * time.Second

// Handler serves /metrics, /healthz and /readyz openly and /api/v1 behind
// the bearer token.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{Registry: d.registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !d.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		// Ready means able to record: a store that cannot write (a full
		// disk) checks and delivers nothing, however alive the process.
		ctx, cancel := context.WithTimeout(r.Context(), storeProbeTimeout)
		defer cancel()
		if err := d.store.Probe(ctx, d.now()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/sites", d.apiSites)
	api.HandleFunc("GET /api/v1/sites/{domain}", d.apiSite)
	api.HandleFunc("POST /api/v1/sites/{domain}/check", d.apiTrigger)
	api.HandleFunc("GET /api/v1/sites/{domain}/screenshots/{check}", d.apiScreenshot)
	api.HandleFunc("GET /api/v1/violations", d.apiViolations)
	api.HandleFunc("GET /api/v1/notices", d.apiNotices)
	api.HandleFunc("GET /api/v1/notices/{id}", d.apiNotice)
	api.HandleFunc("GET /api/v1/exemptions", d.apiExemptions)
	api.HandleFunc("POST /api/v1/exemptions", d.apiAddExemption)
	api.HandleFunc("DELETE /api/v1/exemptions/{id}", d.apiRemoveExemption)
	mux.Handle("/api/", d.authorize(api))
	// The console: off (404) unless the API token is set.
	mux.Handle("/ui/", d.console.Handler())
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	return mux
}

func (d *Daemon) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.apiToken == "" {
			writeError(w, http.StatusServiceUnavailable, errAPIDisabled)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// ConstantTimeCompare returns at once when the lengths differ, which
		// tells a caller the token's length; digests are always the same
		// length.
		gotSum, wantSum := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(d.apiToken))
		if !ok || subtle.ConstantTimeCompare(gotSum[:], wantSum[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="beianwatch"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// page is the envelope of every list.
type page[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// pageParams reads ?limit= (1..1000, default 100) and ?offset=.
func pageParams(r *http.Request) (limit, offset int, err error) {
	limit = 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return 0, 0, errors.New("limit must be 1..1000")
		}
		limit = n
	}
	if v := r.URL.Query().Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, errors.New("offset must be a non-negative integer")
		}
		offset = n
	}
	return limit, offset, nil
}

// paginate pages a list held in memory (the inventory's sites).
func paginate[T any](r *http.Request, all []T) (page[T], error) {
	limit, offset, err := pageParams(r)
	if err != nil {
		return page[T]{}, err
	}
	p := page[T]{Total: len(all), Limit: limit, Offset: offset, Items: []T{}}
	if offset < len(all) {
		p.Items = all[offset:min(len(all), offset+limit)]
	}
	return p, nil
}

// apiSite is a site as the API shows it: no secrets, masked phones, the
// owner's webhook URL redacted.
type apiSite struct {
	Domain       string         `json:"domain"`
	ICP          string         `json:"icp,omitempty"`
	PSB          string         `json:"psb,omitempty"`
	Status       checks.Status  `json:"status"`
	Entity       string         `json:"entity,omitempty"`
	URL          string         `json:"url,omitempty"`
	IPRanges     []string       `json:"ip_ranges,omitempty"`
	Contacts     []apiContact   `json:"contacts,omitempty"`
	OwnerChannel string         `json:"owner_channel,omitempty"`
	OwnerURL     string         `json:"owner_url,omitempty"`
	Tags         inventory.Tags `json:"tags,omitempty"`
	Line         int            `json:"line"`
}

type apiContact struct {
	Role  string `json:"role"`
	Phone string `json:"phone"` // masked
}

func (d *Daemon) toAPISite(domain string) (apiSite, bool) {
	s := d.site(domain)
	if s == nil {
		return apiSite{}, false
	}
	a := apiSite{Domain: s.Domain, Status: s.Status, Entity: apiText(s.Entity), URL: apiText(s.URL), Line: s.Line,
		OwnerChannel: s.Owner.Kind}
	// A copy: the inventory's tags are shared with every reader.
	for _, t := range s.Tags {
		a.Tags = append(a.Tags, inventory.Tag{Key: apiText(t.Key), Value: apiText(t.Value)})
	}
	if s.ICP != nil {
		a.ICP = s.ICP.String()
	}
	if s.PSB != nil {
		a.PSB = s.PSB.String()
	}
	for _, r := range s.IPRanges {
		a.IPRanges = append(a.IPRanges, r.String())
	}
	for _, c := range s.Contacts {
		a.Contacts = append(a.Contacts, apiContact{Role: c.Role, Phone: checks.MaskPhone(c.Phone)})
	}
	if s.Owner.URL != "" {
		a.OwnerURL = config.RedactURL(s.Owner.URL)
	}
	return a, true
}

func (d *Daemon) apiSites(w http.ResponseWriter, r *http.Request) {
	inv := d.watcher.Current()
	status := r.URL.Query().Get("status")
	all := make([]apiSite, 0, inv.Len())
	for _, s := range inv.Sites {
		if status != "" && string(s.Status) != status {
			continue
		}
		if a, ok := d.toAPISite(s.Domain); ok {
			all = append(all, a)
		}
	}
	p, err := paginate(r, all)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (d *Daemon) apiSite(w http.ResponseWriter, r *http.Request) {
	domain, err := checks.NormalizeDomain(r.PathValue("domain"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	site, ok := d.toAPISite(domain)
	if !ok {
		writeError(w, http.StatusNotFound, errors.New("no such site in the inventory"))
		return
	}
	ctx := r.Context()
	latest, err := d.store.LatestResults(ctx, domain)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	viol, err := d.store.Violations(ctx, store.ViolationFilter{Domain: domain})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	hist, err := d.store.Transitions(ctx, domain, 200)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	exempt, err := d.store.Exemptions(ctx, store.ExemptionFilter{Domain: domain, Active: d.now()})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	type latestResult struct {
		store.SiteResult
		// Exempt lists the codes of this result's findings that an
		// exemption in force covers: checked and recorded, not acted on.
		Exempt []string `json:"exempt,omitempty"`
	}
	results := make([]latestResult, len(latest))
	for i := range latest {
		latest[i].Result = apiResult(latest[i].Result)
		results[i] = latestResult{SiteResult: latest[i], Exempt: ExemptCodes(latest[i].Result, exempt, d.now())}
	}
	for i := range exempt {
		exempt[i] = apiExemption(exempt[i])
	}
	for i := range viol {
		viol[i] = apiState(viol[i])
	}
	for i := range hist {
		hist[i].Transition = apiTransition(hist[i].Transition)
	}
	// Where to fetch what the browser showed of a failing rendered footer.
	screenshots := map[string]apiScreenshotRef{}
	if sc, ok, err := d.store.LatestScreenshot(ctx, domain, checks.CheckFooter); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	} else if ok {
		screenshots[checks.CheckFooter] = apiScreenshotRef{
			URL: "/api/v1/sites/" + domain + "/screenshots/" + checks.CheckFooter, TakenAt: sc.TakenAt, Bytes: len(sc.PNG)}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"site": site, "latest": orEmpty(results), "violations": orEmpty(viol), "history": orEmpty(hist),
		"exemptions": orEmpty(exempt), "screenshots": screenshots,
	})
}

// apiScreenshotRef says where a site's latest screenshot is served.
type apiScreenshotRef struct {
	URL     string    `json:"url"`
	TakenAt time.Time `json:"taken_at"`
	Bytes   int       `json:"bytes"`
}

// apiScreenshot serves the latest PNG a failing rendered run of the check
// kept: what the browser showed of the footer.
func (d *Daemon) apiScreenshot(w http.ResponseWriter, r *http.Request) {
	domain, err := checks.NormalizeDomain(r.PathValue("domain"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	check := r.PathValue("check")
	if !slices.Contains(checks.AllChecks, check) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("unknown check %q", check))
		return
	}
	sc, ok, err := d.store.LatestScreenshot(r.Context(), domain, check)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, errors.New("no screenshot for this site and check"))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(sc.PNG)))
	w.Header().Set("Last-Modified", sc.TakenAt.Format(http.TimeFormat))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(sc.PNG)
}

func (d *Daemon) apiTrigger(w http.ResponseWriter, r *http.Request) {
	domain, err := checks.NormalizeDomain(r.PathValue("domain"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	s := d.site(domain)
	if s == nil {
		writeError(w, http.StatusNotFound, errors.New("no such site in the inventory"))
		return
	}
	names := checks.AllChecks
	if only := r.URL.Query().Get("only"); only != "" {
		names = strings.Split(only, ",")
	}
	queued := []string{}
	for _, name := range names {
		if _, known := d.checkers.ByName[name]; !known {
			writeError(w, http.StatusBadRequest, errors.New("unknown check "+strconv.Quote(name)))
			return
		}
		if !d.applicant.applies(name, &s.Site) {
			continue
		}
		if _, err := d.engine.Trigger(r.Context(), name, []string{domain}); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		queued = append(queued, name)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"domain": domain, "queued": queued})
}

func (d *Daemon) apiViolations(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := pageParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	f := store.ViolationFilter{Domain: r.URL.Query().Get("site"), Code: r.URL.Query().Get("code"), Limit: limit, Offset: offset}
	if st := r.URL.Query().Get("state"); st != "" {
		for _, s := range strings.Split(st, ",") {
			switch lifecycle.Status(s) {
			case lifecycle.StatusPending, lifecycle.StatusOpen, lifecycle.StatusEscalated, lifecycle.StatusResolved, lifecycle.StatusExempted:
				f.Statuses = append(f.Statuses, lifecycle.Status(s))
			default:
				writeError(w, http.StatusBadRequest, errors.New("state must be pending, open, escalated, resolved or exempted"))
				return
			}
		}
	} else {
		f.Statuses = []lifecycle.Status{lifecycle.StatusOpen, lifecycle.StatusEscalated}
	}
	items, err := d.store.Violations(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	total, err := d.store.CountViolations(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]apiViolation, len(items))
	for i := range items {
		out[i] = apiViolation{State: apiState(items[i])}
		out[i].forWhom(d.site(items[i].Domain))
	}
	writeJSON(w, http.StatusOK, page[apiViolation]{Items: out, Total: total, Limit: limit, Offset: offset})
}

// apiViolation is a violation and whom it concerns, from the inventory in
// effect: the entity, the tags (customer=..., region=...) and the kind of
// channel the owner hears on. Never the channel's URL or secret.
type apiViolation struct {
	lifecycle.State
	Entity       string         `json:"entity,omitempty"`
	Tags         inventory.Tags `json:"tags,omitempty"`
	OwnerChannel string         `json:"owner_channel,omitempty"`
}

func (v *apiViolation) forWhom(s *inventory.Site) {
	if s == nil {
		return // the site has left the inventory
	}
	// Free-text cells: personal filings put numbers there. The tags are
	// copied: the inventory's are shared with every reader.
	v.Entity, v.OwnerChannel = apiText(s.Entity), s.Owner.Kind
	for _, t := range s.Tags {
		v.Tags = append(v.Tags, inventory.Tag{Key: apiText(t.Key), Value: apiText(t.Value)})
	}
}

func (d *Daemon) apiNotices(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := pageParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	f := store.NoticeFilter{Domain: r.URL.Query().Get("site"), Limit: limit, Offset: offset}
	if st := r.URL.Query().Get("state"); st != "" {
		for _, s := range strings.Split(st, ",") {
			switch ns := store.NoticeState(s); ns {
			case store.NoticeQueued, store.NoticeHeld, store.NoticeSending, store.NoticeDelivered, store.NoticeDead, store.NoticeDropped:
				f.States = append(f.States, ns)
			default:
				writeError(w, http.StatusBadRequest, errors.New("state must be queued, held, sending, delivered, dead or dropped"))
				return
			}
		}
	}
	items, err := d.store.Notices(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	total, err := d.store.CountNotices(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	for i := range items {
		items[i] = apiNoticeView(items[i])
	}
	writeJSON(w, http.StatusOK, page[store.Notice]{Items: orEmpty(items), Total: total, Limit: limit, Offset: offset})
}

func (d *Daemon) apiNotice(w http.ResponseWriter, r *http.Request) {
	n, err := d.store.Notice(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, err)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	attempts, err := d.store.Attempts(r.Context(), n.ID)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	for i := range attempts {
		attempts[i].BodyExcerpt = apiText(attempts[i].BodyExcerpt)
		attempts[i].Error = apiText(attempts[i].Error)
		attempts[i].SentText = apiText(attempts[i].SentText)
	}
	writeJSON(w, http.StatusOK, map[string]any{"notice": apiNoticeView(n), "attempts": orEmpty(attempts)})
}

func (d *Daemon) apiExemptions(w http.ResponseWriter, r *http.Request) {
	site := r.URL.Query().Get("site")
	if site != "" {
		dom, err := checks.NormalizeDomain(site)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		site = dom
	}
	all := r.URL.Query().Get("all")
	if all != "" && all != "1" && all != "true" && all != "0" && all != "false" {
		writeError(w, http.StatusBadRequest, errors.New("all must be true or false"))
		return
	}
	list, err := d.Exemptions().List(r.Context(), site, all != "1" && all != "true")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	for i := range list {
		list[i] = apiExemption(list[i])
	}
	p, err := paginate(r, orEmpty(list))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (d *Daemon) apiAddExemption(w http.ResponseWriter, r *http.Request) {
	var req ExemptionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("decode the exemption: %w", err))
		return
	}
	ex, trs, err := d.Exemptions().Add(r.Context(), req)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	d.log.Info("exemption added", "id", ex.ID, "domain", ex.Domain, "scope", ex.Scope(), "until", ex.Until, "by", ex.CreatedBy, "closed", len(trs))
	for i := range trs {
		trs[i] = apiTransition(trs[i])
	}
	writeJSON(w, http.StatusCreated, map[string]any{"exemption": apiExemption(ex), "closed": orEmpty(trs)})
}

func (d *Daemon) apiRemoveExemption(w http.ResponseWriter, r *http.Request) {
	id, err := store.ParseExemptionID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var req struct {
		By     string `json:"by"`
		Reason string `json:"reason"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("decode the removal (want {\"by\": ..., \"reason\": ...}): %w", err))
		return
	}
	ex, err := d.Exemptions().Remove(r.Context(), id, req.By, req.Reason)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	d.log.Info("exemption removed", "id", ex.ID, "domain", ex.Domain, "scope", ex.Scope(), "by", ex.RemovedBy)
	writeJSON(w, http.StatusOK, map[string]any{"exemption": apiExemption(ex)})
}

// statusOf maps a store error to its HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	default:
		return http.StatusInternalServerError
	}
}

func apiExemption(e store.Exemption) store.Exemption {
	e.Reason, e.RemovedReason = apiText(e.Reason), apiText(e.RemovedReason)
	e.CreatedBy, e.RemovedBy = apiText(e.CreatedBy), apiText(e.RemovedBy)
	return e
}

// ExemptCodes lists the codes of r's violation findings that an exemption
// of es in force at now covers.
func ExemptCodes(r checks.Result, es []store.Exemption, now time.Time) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Severity != checks.Violation || slices.Contains(out, f.Code) {
			continue
		}
		for _, e := range es {
			if e.Active(now) && e.Covers(f.Code) {
				out = append(out, f.Code)
				break
			}
		}
	}
	return out
}

// apiText is free text as the API shows it. The text comes from places
// we do not control (inventory cells, crawled pages, receivers' replies,
// a vendor's error), so mobile numbers are masked here whatever the
// producer did, and a URL's password is hidden.
func apiText(s string) string { return dossier.Mask(s) }

func apiResult(r checks.Result) checks.Result { return r.MapText(apiText) }

func apiState(s lifecycle.State) lifecycle.State {
	s.Message, s.Evidence = apiText(s.Message), apiText(s.Evidence)
	return s
}

func apiTransition(t lifecycle.Transition) lifecycle.Transition {
	t.Reason, t.Message, t.Evidence = apiText(t.Reason), apiText(t.Message), apiText(t.Evidence)
	return t
}

func apiNoticeView(n store.Notice) store.Notice {
	n.LastError = apiText(n.LastError)
	if n.Payload.Transitions != nil {
		ts := make([]lifecycle.Transition, len(n.Payload.Transitions))
		for i, t := range n.Payload.Transitions {
			ts[i] = apiTransition(t)
		}
		n.Payload.Transitions = ts
	}
	return n
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
