package dossier

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"os"
	"os/exec"
	"regexp"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

//go:embed dossier.html.tmpl
var templateFS embed.FS

var tmpl = template.Must(template.New("dossier.html.tmpl").Funcs(template.FuncMap{
	"inc": func(i int) int { return i + 1 },
}).ParseFS(templateFS, "dossier.html.tmpl"))

// HTML renders d as one self-contained page (no external resource), with
// its hash in the footer and its data embedded for recomputation.
func HTML(d *Data, generated time.Time) ([]byte, error) {
	raw, err := Encode(d)
	if err != nil {
		return nil, err
	}
	hash, err := Hash(d)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, map[string]any{
		"Data": d, "Hash": hash, "Generated": at(generated), "Embedded": base64.RawURLEncoding.EncodeToString(raw),
	}); err != nil {
		return nil, fmt.Errorf("render the dossier of %s: %w", d.Site.Domain, err)
	}
	return b.Bytes(), nil
}

var embedded = regexp.MustCompile(`<div id="dossier-data" hidden>([A-Za-z0-9_-]*)</div>`)

// Verify recomputes the hash of an HTML dossier from its embedded data and
// returns it with the hash its footer states; they are equal for an
// untouched copy.
func Verify(html []byte) (computed, stated string, err error) {
	m := embedded.FindSubmatch(html)
	if m == nil {
		return "", "", errors.New("no embedded dossier data (element id dossier-data)")
	}
	raw, err := base64.RawURLEncoding.DecodeString(string(m[1]))
	if err != nil {
		return "", "", fmt.Errorf("decode the embedded dossier data: %w", err)
	}
	computed = sha256Hex(raw)
	s := footerHash.FindSubmatch(html)
	if s == nil {
		return computed, "", errors.New("no hash line in the footer")
	}
	return computed, string(s[1]), nil
}

// footerHash finds the hash line in an HTML or text rendering.
var footerHash = regexp.MustCompile(`SHA-256 \(dossier data\): ([0-9a-f]{64})`)

// StatedHash is the hash a dossier's text (HTML, or a PDF's text) states.
func StatedHash(text []byte) (string, bool) {
	m := footerHash.FindSubmatch(text)
	if m == nil {
		return "", false
	}
	return string(m[1]), true
}

// Browser finds headless Chromium: $BEIANWATCH_CHROMIUM, else chromium or
// chromium-browser or google-chrome on PATH; "" when there is none.
func Browser(getenv func(string) string) string {
	if p := getenv("BEIANWATCH_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// PDF prints html to PDF (A4) with headless Chromium at browser. The page
// is handed to the browser directly and the browser resolves no host
// name: the document is self-contained, and nothing may leave the machine.
func PDF(ctx context.Context, browser string, html []byte) ([]byte, error) {
	if browser == "" {
		return nil, errors.New("print to PDF: no Chromium found (install chromium, or write .html)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND"),
		chromedp.Flag("proxy-server", "http://127.0.0.1:9"),
		chromedp.DisableGPU,
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	err := chromedp.Do(bctx,
		chromedp.Navigate("about:blank"),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			tree, err := cdp.Call(ctx, t, page.GetFrameTree, cdp.Empty{})
			if err != nil {
				return err
			}
			_, err = cdp.Call(ctx, t, page.SetDocumentContent, page.SetDocumentContentParams{FrameID: tree.FrameTree.Frame.ID, HTML: string(html)})
			return err
		}),
	)
	var pdf []byte
	if err == nil {
		pdf, err = chromedp.Run(bctx, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFMargin(0.4), chromedp.PDFPrintBackground()))
	}
	if err != nil {
		return nil, fmt.Errorf("print to PDF with %s: %w", browser, err)
	}
	return pdf, nil
}
