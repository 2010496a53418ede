package checks

import (
	"context"
	"errors"
	"time"
)

// Reasons and details of rendered footer runs.
const (
	// ReasonRenderTimeout: the page did not settle in the browser within
	// the per-page deadline (a script that never ends, a page that never
	// finishes loading). Inconclusive, never a violation.
	ReasonRenderTimeout = "render_timeout"
	// DetailNoBrowser is the detail of a needs_rendering run when no
	// browser is available to render it.
	DetailNoBrowser = "no browser available"
)

// ErrRenderTimeout is wrapped by a PageRenderer's error when the page
// did not settle before the deadline.
var ErrRenderTimeout = errors.New("the page did not settle before the render deadline")

// ErrNoBrowser is wrapped by a PageRenderer's error when it has no
// browser to render with.
var ErrNoBrowser = errors.New(DetailNoBrowser)

// Rendering is a page as a browser showed it.
type Rendering struct {
	// URL is the address the browser ended on.
	URL string
	// DOM is the rendered document serialised as HTML: open shadow roots
	// and same-origin frames inlined where they are shown, script
	// contents dropped (they have run).
	DOM []byte
	// VisibleDOM is DOM without the elements CSS hides.
	VisibleDOM []byte
	// Duration is the time from navigation to the serialised DOM.
	Duration time.Duration
	// Screenshot is a PNG of the footer region, when the judge asked for
	// one.
	Screenshot []byte
	// Requests is how many requests the page made through the proxy.
	Requests int
	// Failed lists requests that failed on our side (refused by the
	// egress policy, unreachable, over the page's limits): the page a
	// person sees may have more than the rendered DOM.
	Failed []string
	// Limited is set when the page hit the per-page byte or request cap.
	Limited bool
}

// PageRenderer loads a page in a browser. judge is called with the
// rendered DOM while the page is still open; when it returns true the
// renderer takes a screenshot of the footer region. The error wraps
// ErrRenderTimeout or ErrNoBrowser when those are the cause.
type PageRenderer interface {
	Render(ctx context.Context, url string, judge func(dom []byte) (screenshot bool)) (*Rendering, error)
}

// RenderMode says when the footer check renders a page.
type RenderMode string

const (
	// RenderAuto renders pages whose static reading is needs_rendering,
	// when a browser is available.
	RenderAuto RenderMode = "auto"
	// RenderAlways renders every page (debugging).
	RenderAlways RenderMode = "always"
	// RenderNever never renders.
	RenderNever RenderMode = "never"
)

// ParseRenderMode checks a render mode's spelling.
func ParseRenderMode(s string) (RenderMode, error) {
	switch m := RenderMode(s); m {
	case RenderAuto, RenderAlways, RenderNever:
		return m, nil
	case "":
		return RenderAuto, nil
	}
	return "", errors.New(`render mode must be auto, always or never, not "` + s + `"`)
}
