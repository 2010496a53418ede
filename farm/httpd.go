package farm

import (
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// httpHandler serves every farm site as a virtual host chosen by the host
// part of the Host header.
type httpHandler struct {
	farm *Farm
	// stop is closed when the farm shuts down, releasing slow and hanging
	// responses that would otherwise hold Shutdown up.
	stop     <-chan struct{}
	requests atomic.Int64
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	s := h.farm.Lookup(host)
	if s == nil || !s.Served() {
		http.Error(w, "farm: no site "+host+" here", http.StatusNotFound)
		return
	}
	if s.Delay > 0 {
		t := time.NewTimer(s.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-h.stop:
			return
		}
	}
	p := s.Page()
	w.Header().Set("Content-Type", p.ContentType)
	w.Header().Set("Server", "beianwatch-farm")
	w.Header().Set("Content-Length", strconv.Itoa(len(p.Body)))
	if !s.Hang {
		w.Write(p.Body)
		return
	}
	// Half the page, then nothing: the client waits for the promised
	// Content-Length until its own deadline.
	w.Write(p.Body[:len(p.Body)/2])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	select {
	case <-r.Context().Done():
	case <-h.stop:
	}
}
