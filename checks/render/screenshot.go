package render

import (
	"context"
	"fmt"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// footerRectJS finds the region a person reads the footer in: the last
// footer-like block with something in it, else the bottom of the page.
// Coordinates are the document's, in CSS pixels.
const footerRectJS = `(() => {
  const doc = document.documentElement;
  const pageH = Math.max(doc.scrollHeight, document.body ? document.body.scrollHeight : 0);
  const pageW = Math.max(doc.clientWidth, 1);
  const sel = 'footer, [id*="footer" i], [class*="footer" i], [id*="beian" i], [class*="beian" i], [id*="copyright" i], [class*="copyright" i]';
  let best = null;
  for (const el of document.querySelectorAll(sel)) {
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) continue;
    if (!best || r.bottom + scrollY >= best.y + best.h) best = {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height};
  }
  if (!best) best = {x: 0, y: Math.max(0, pageH - 300), w: pageW, h: Math.min(300, pageH)};
  return best;
})()`

type rect struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

// maxClipHeight bounds the clip: a "footer" that is the whole page is
// not a footer region.
const maxClipHeight = 400

// screenshotFooter takes a PNG of the footer region, scaled down until it
// fits MaxScreenshotBytes.
func screenshotFooter(ctx context.Context) ([]byte, error) {
	rc, err := chromedp.Run(ctx, chromedp.Evaluate[rect](footerRectJS))
	if err != nil {
		return nil, fmt.Errorf("locating the footer: %w", err)
	}
	if rc.W <= 0 || rc.H <= 0 {
		return nil, fmt.Errorf("the footer region is empty")
	}
	if rc.W > viewportWidth {
		rc.W = viewportWidth
	}
	if rc.H > maxClipHeight {
		// Keep the bottom: that is where the filing numbers are.
		rc.Y += rc.H - maxClipHeight
		rc.H = maxClipHeight
	}
	beyond := true
	for _, scale := range []float64{1, 0.6, 0.35} {
		shot, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
			res, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
				Format: page.CaptureScreenshotFormatPng, CaptureBeyondViewport: &beyond,
				Clip: &page.Viewport{X: rc.X, Y: rc.Y, Width: rc.W, Height: rc.H, Scale: scale}})
			return res.Data, err
		})
		if err != nil {
			return nil, fmt.Errorf("capturing the footer: %w", err)
		}
		if len(shot) <= MaxScreenshotBytes {
			return shot, nil
		}
	}
	return nil, fmt.Errorf("the footer screenshot is larger than %d bytes even scaled down", MaxScreenshotBytes)
}
