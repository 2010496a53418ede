package farm

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Webhook headers of docs/webhooks.md. The farm spells them out itself rather
// than importing the sender's constants: the receiver checks the contract,
// not the implementation.
const (
	headerNoticeID  = "X-Beianwatch-Notice-Id"
	headerTimestamp = "X-Beianwatch-Timestamp"
	headerSignature = "X-Beianwatch-Signature"
)

// MaxClockSkew bounds how far a notice's timestamp may be from the
// receiver's clock: an older signed body is a replay.
const MaxClockSkew = 5 * time.Minute

// Notice is the part of the generic webhook body the receiver reads.
type Notice struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Type string `json:"type"`
	Site *struct {
		Domain string `json:"domain"`
		ICP    string `json:"icp"`
		Entity string `json:"entity"`
	} `json:"site"`
	Violations []struct {
		Code       string `json:"code"`
		Transition string `json:"transition"`
		Title      string `json:"title"`
		Evidence   string `json:"evidence"`
		Fix        string `json:"fix"`
		Deadline   string `json:"deadline"`
	} `json:"violations"`
	Language string `json:"language"`
	SentAt   string `json:"sent_at"`
	Title    string `json:"title"`
}

// ReceiverStats counts what the receiver got.
type ReceiverStats struct {
	Notices      int            // verified, first delivery of an id
	Duplicates   int            // verified, an id seen before (a retry)
	BadSignature int            // rejected: missing, malformed or wrong signature, or stale timestamp
	Malformed    int            // verified, but not a notice body
	Transitions  map[string]int // violation changes by transition
	Codes        map[string]int // violation changes by code
	Domains      map[string]int // notices by site domain
}

// Receiver verifies and prints notices. Secrets are keyed by path: an owner
// group's notices arrive at /hook/<group>, the provider's at /ops.
type Receiver struct {
	secrets map[string]string // path -> secret
	out     io.Writer
	clock   func() time.Time
	loc     *time.Location

	mu    sync.Mutex
	seen  map[string]bool
	stats ReceiverStats
}

// NewReceiver returns a receiver that checks signatures with secrets (URL
// path to secret) and prints to out. clock nil means time.Now.
func NewReceiver(secrets map[string]string, out io.Writer, clock func() time.Time) *Receiver {
	if clock == nil {
		clock = time.Now
	}
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		loc = time.FixedZone("CST", 8*3600)
	}
	return &Receiver{secrets: secrets, out: out, clock: clock, loc: loc, seen: map[string]bool{},
		stats: ReceiverStats{Transitions: map[string]int{}, Codes: map[string]int{}, Domains: map[string]int{}}}
}

// Stats is a copy of the counters.
func (rc *Receiver) Stats() ReceiverStats {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	s := rc.stats
	s.Transitions, s.Codes, s.Domains = cloneMap(s.Transitions), cloneMap(s.Codes), cloneMap(s.Domains)
	return s
}

func cloneMap(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// VerifySignature checks X-Beianwatch-Signature: "sha256=" and the hex
// HMAC-SHA256, keyed by secret, of "<timestamp>.<body>".
func VerifySignature(secret, timestamp, signature string, body []byte) bool {
	hexSig, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	secret, known := rc.secrets[r.URL.Path]
	if !known {
		http.Error(w, "no receiver at "+r.URL.Path, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	ts := r.Header.Get(headerTimestamp)
	sig := r.Header.Get(headerSignature)
	id := r.Header.Get(headerNoticeID)
	if why := rc.reject(secret, ts, sig, body); why != "" {
		rc.mu.Lock()
		rc.stats.BadSignature++
		fmt.Fprintf(rc.out, "\n!!!!!!!! 签名校验失败 BAD SIGNATURE on %s: %s (notice %s). Rejected with 401. !!!!!!!!\n\n", r.URL.Path, why, orDash(id))
		rc.mu.Unlock()
		http.Error(w, "signature: "+why, http.StatusUnauthorized)
		return
	}
	var n Notice
	if err := json.Unmarshal(body, &n); err != nil {
		rc.mu.Lock()
		rc.stats.Malformed++
		fmt.Fprintf(rc.out, "!! notice %s on %s is signed but not JSON: %v\n", orDash(id), r.URL.Path, err)
		rc.mu.Unlock()
		http.Error(w, "body is not JSON", http.StatusBadRequest)
		return
	}
	if n.ID == "" {
		n.ID = id
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.seen[n.ID] {
		rc.stats.Duplicates++
		fmt.Fprintf(rc.out, "(重复投递 duplicate delivery of notice %s ignored)\n", n.ID)
		w.WriteHeader(http.StatusOK)
		return
	}
	rc.seen[n.ID] = true
	rc.stats.Notices++
	if n.Site != nil {
		rc.stats.Domains[n.Site.Domain]++
	}
	for _, v := range n.Violations {
		rc.stats.Transitions[v.Transition]++
		rc.stats.Codes[v.Code]++
	}
	rc.print(r.URL.Path, &n)
	w.WriteHeader(http.StatusOK)
}

func (rc *Receiver) reject(secret, ts, sig string, body []byte) string {
	switch {
	case sig == "":
		return "no " + headerSignature + " header"
	case ts == "":
		return "no " + headerTimestamp + " header"
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Sprintf("timestamp %q is not Unix seconds", ts)
	}
	if !VerifySignature(secret, ts, sig, body) {
		return "HMAC does not match the body and timestamp"
	}
	if d := rc.clock().Sub(time.Unix(sec, 0)); d > MaxClockSkew || d < -MaxClockSkew {
		return fmt.Sprintf("timestamp is %v away from our clock (a replay?)", d.Round(time.Second))
	}
	return ""
}

var transitionZH = map[string]string{
	"opened":    "新增违规",
	"reminder":  "整改提醒",
	"escalated": "逾期升级",
	"resolved":  "已整改",
}

// print writes one notice readably, in Chinese, with the codes for people
// who grep. Called with rc.mu held so notices do not interleave.
func (rc *Receiver) print(path string, n *Notice) {
	var b strings.Builder
	who := "站点所有者 owner"
	if n.Kind == "ops" {
		who = "接入商运维 provider ops"
	}
	fmt.Fprintf(&b, "━━ 通知 #%d [%s] %s ━━\n", rc.stats.Notices, who, n.ID)
	if n.Site != nil {
		fmt.Fprintf(&b, "   网站: %s  备案号: %s  主体: %s\n", n.Site.Domain, orDash(n.Site.ICP), orDash(n.Site.Entity))
	}
	if n.Title != "" {
		fmt.Fprintf(&b, "   标题: %s\n", n.Title)
	}
	for _, v := range n.Violations {
		tr := transitionZH[v.Transition]
		if tr == "" {
			tr = v.Transition
		}
		fmt.Fprintf(&b, "   • %s  %s  %s\n", tr, v.Code, v.Title)
		if v.Deadline != "" && v.Transition != "resolved" {
			if t, err := time.Parse(time.RFC3339, v.Deadline); err == nil {
				fmt.Fprintf(&b, "     整改期限: %s (北京时间)\n", t.In(rc.loc).Format("2006-01-02 15:04"))
			}
		}
		if v.Fix != "" && v.Transition != "resolved" {
			fmt.Fprintf(&b, "     整改方法: %s\n", oneLine(v.Fix, 120))
		}
	}
	fmt.Fprintf(&b, "   (签名已验证 signature verified, %s)\n", path)
	io.WriteString(rc.out, b.String())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}
