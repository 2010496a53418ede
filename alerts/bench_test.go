package alerts

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRender: one owner notice with one violation, both languages,
// text and markdown.
func BenchmarkRender(b *testing.B) {
	r := newTestRenderer(b)
	n := NewOwnerNotice(testSite, "b", []ViolationChange{opened("footer_link_obsolete")}, LangZH, fixedAt)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderAllCodes: a worst-case notice holding every code.
func BenchmarkRenderAllCodes(b *testing.B) {
	r := newTestRenderer(b)
	var vs []ViolationChange
	for _, c := range Codes() {
		vs = append(vs, opened(c))
	}
	n := NewOwnerNotice(testSite, "b", vs, LangZH, fixedAt)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewRenderer: startup cost, including the self-test render.
func BenchmarkNewRenderer(b *testing.B) {
	for b.Loop() {
		if _, err := NewRenderer(RendererOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWebhookSend: encode, sign and POST to a loopback receiver.
func BenchmarkWebhookSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, err := NewChannel(ChannelWebhook, srv.URL, "bench-secret", srv.Client(), nil)
	if err != nil {
		b.Fatal(err)
	}
	rd := testRendered(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Send(ctx, rd); err != nil {
			b.Fatal(err)
		}
	}
}
