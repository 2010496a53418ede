package checks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// needsRendering reports whether a static footer result left something
// for a browser to judge: the whole verdict (reason needs_rendering), or
// the link of a number an inline script may wrap.
func needsRendering(r Result) bool {
	if r.Outcome == Inconclusive && r.Reason == ReasonNeedsRendering {
		return true
	}
	for _, v := range r.Details {
		if strings.HasPrefix(v, ReasonNeedsRendering+":") {
			return true
		}
	}
	return false
}

// maybeRender replaces a static result that needs a browser by the
// verdict on the rendered page, judged by the same rules (EvaluateFooter)
// on the rendered DOM.
func (c *FooterCheck) maybeRender(ctx context.Context, s *Site, url string, static Result) Result {
	mode := c.RenderMode
	if mode == "" {
		mode = RenderAuto
	}
	want := mode == RenderAlways || mode == RenderAuto && needsRendering(static)
	if !want || mode == RenderNever {
		if mode == RenderNever && needsRendering(static) {
			static.Details["render"] = "rendering disabled (render.enabled: never)"
		}
		return static
	}
	if c.Render == nil {
		if needsRendering(static) {
			static.Details["render"] = DetailNoBrowser
		}
		return static
	}
	var judged Result
	ren, err := c.Render.Render(ctx, url, func(dom []byte) bool {
		judged = EvaluateFooter(dom, s, c.Opts)
		return judged.Outcome == Fail
	})
	if err != nil {
		switch {
		case errors.Is(err, ErrRenderTimeout):
			r := inconclusive(ReasonRenderTimeout)
			r.Details = static.Details
			r.Details["render"] = err.Error()
			r.Details["static_outcome"] = staticSummary(static)
			return r
		case errors.Is(err, ErrNoBrowser):
			static.Details["render"] = DetailNoBrowser
		default:
			static.Details["render"] = "render failed: " + err.Error()
		}
		return static
	}
	r := judged
	if r.Details == nil {
		r.Details = map[string]string{}
	}
	r.Details["rendered"] = "true"
	r.Details["render_ms"] = strconv.FormatInt(ren.Duration.Milliseconds(), 10)
	r.Details["url"] = url
	if ren.URL != "" && ren.URL != url {
		r.Details["rendered_url"] = ren.URL
	}
	r.Details["static_outcome"] = staticSummary(static)
	if ren.Requests > 0 {
		r.Details["render_requests"] = strconv.Itoa(ren.Requests)
	}
	if len(ren.Failed) > 0 {
		r.Details["render_failed"] = strings.Join(ren.Failed, "; ")
	}
	if hasNumber(r) && ren.VisibleDOM != nil {
		if v := EvaluateFooter(ren.VisibleDOM, s, c.Opts); hasFinding(v, CodeFooterICPMissing) {
			r.Details["hidden"] = "the filing number is shown only in elements hidden by CSS (counted as shown)"
		}
	}
	if r.Outcome == Fail && (ren.Limited || len(ren.Failed) > 0) {
		// Part of the page did not load on our side: what a visitor sees
		// may hold what we miss. Never a violation from an incomplete page.
		codes := make([]string, 0, len(r.Findings))
		for _, f := range r.Findings {
			codes = append(codes, f.Code)
		}
		out := inconclusive(ReasonNeedsRendering)
		out.Details = r.Details
		out.Details["why"] = fmt.Sprintf("the rendered page is incomplete (%d requests failed or were over the page's limits); it would have raised %s",
			len(ren.Failed), strings.Join(codes, ", "))
		return out
	}
	if r.Outcome == Fail {
		r.Screenshot = ren.Screenshot
	}
	return r
}

func staticSummary(r Result) string {
	if r.Reason != "" {
		return string(r.Outcome) + " (" + r.Reason + ")"
	}
	return string(r.Outcome)
}

func hasFinding(r Result, code string) bool {
	for _, f := range r.Findings {
		if f.Code == code {
			return true
		}
	}
	return false
}

// hasNumber: the result judged a shown filing number (it passed, or
// failed on something other than the number's absence).
func hasNumber(r Result) bool {
	return (r.Outcome == Pass || r.Outcome == Fail) && !hasFinding(r, CodeFooterICPMissing)
}
