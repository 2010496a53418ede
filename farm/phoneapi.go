package farm

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// phoneAPI is a number-status provider speaking the generic contract of
// docs/contact.md:
//
//	POST /phone   Authorization: Bearer <token>   {"number": "+8613812345678"}
//	200           {"status": "ok|vacant|suspended|powered_off|unreachable|unknown"}
type phoneAPI struct {
	farm    *Farm
	token   string
	lookups atomic.Int64
	denied  atomic.Int64
}

func (p *phoneAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, `{"error":"POST only"}`, http.StatusMethodNotAllowed)
		return
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(p.token)) != 1 {
		p.denied.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer realm="farm"`)
		http.Error(w, `{"error":"bad or missing bearer token"}`, http.StatusUnauthorized)
		return
	}
	var req struct {
		Number *string `json:"number"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Number == nil {
		http.Error(w, `{"error":"want {\"number\": \"+86...\"}"}`, http.StatusBadRequest)
		return
	}
	p.lookups.Add(1)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"status": string(p.farm.NumberStatus(*req.Number))})
}
