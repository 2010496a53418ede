package monitor

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/checks/render"
)

// TestRenderedFailureKeepsScreenshot runs the daemon against a site whose
// footer a script draws without a link: the rendered run fails, keeps a
// PNG of the footer, and the API says where to fetch it and serves it.
func TestRenderedFailureKeepsScreenshot(t *testing.T) {
	if _, ok := render.FindBrowser(); !ok {
		if os.Getenv("BEIANWATCH_REQUIRE_INTEGRATION") == "" {
			t.Skip("no Chromium on PATH; set BEIANWATCH_REQUIRE_INTEGRATION=1 to make this a failure")
		}
		t.Fatal("BEIANWATCH_REQUIRE_INTEGRATION is set but no Chromium is on PATH")
	}
	const domain = "drawn.example.cn"
	h := newHarness(t, []fixtureSite{{Domain: domain}})
	h.start()
	h.setFooter(domain, `<footer id="footer"></footer><script>
document.getElementById('footer').textContent = '京ICP备2024000001号-1';
</script>`)
	res := h.runCheck(checks.CheckFooter, domain)
	if res.Result.Outcome != checks.Fail {
		t.Fatalf("rendered run: %s (%s), want fail", res.Result.Outcome, res.Result.Reason)
	}
	var site struct {
		Latest []struct {
			Result checks.Result `json:"result"`
		} `json:"latest"`
		Screenshots map[string]struct {
			URL   string `json:"url"`
			Bytes int    `json:"bytes"`
		} `json:"screenshots"`
	}
	h.apiJSON("/api/v1/sites/"+domain, &site)
	ref, ok := site.Screenshots[checks.CheckFooter]
	if !ok || ref.URL != "/api/v1/sites/"+domain+"/screenshots/footer" || ref.Bytes == 0 {
		t.Fatalf("site JSON does not say where the footer screenshot is: %+v", site.Screenshots)
	}
	if len(site.Latest) == 0 || site.Latest[0].Result.Details["rendered"] != "true" {
		t.Errorf("latest result does not say it was rendered: %+v", site.Latest)
	}
	resp := h.api("GET", ref.URL)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" ||
		!bytes.HasPrefix(body, []byte("\x89PNG")) || len(body) != ref.Bytes {
		t.Fatalf("screenshot: HTTP %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	if resp := h.api("GET", "/api/v1/sites/"+domain+"/screenshots/dns"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a check without screenshots: HTTP %d, want 404", resp.StatusCode)
	}
	// The web console reads the same store.
	shots := storeScreenshots{st: h.d.store}
	list, err := shots.List(context.Background(), domain)
	if err != nil || len(list) != 1 {
		t.Fatalf("console screenshots: %+v %v", list, err)
	}
	rc, ctype, err := shots.Open(context.Background(), domain, list[0].ID)
	if err != nil || ctype != "image/png" {
		t.Fatalf("console screenshot open: %s %v", ctype, err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, body) {
		t.Errorf("console screenshot differs from the API's")
	}
	if _, _, err := shots.Open(context.Background(), "other.example.cn", list[0].ID); err == nil {
		t.Errorf("another site's id opened the screenshot")
	}
}
