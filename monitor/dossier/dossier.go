// Package dossier builds a site's record (整改记录): what was seen, when the
// owner was told and whether the notice arrived, as one self-contained,
// printable document with a hash of its data, so that a later copy can be
// shown to be the same (docs/operations.md, "Dossier").
//
// What is hashed: the SHA-256 of the dossier data (Data) encoded as JSON by
// Encode: Go's encoding/json with the struct field order below, no
// indentation, no HTML escaping and no trailing newline. Every time in it
// is a string in Asia/Shanghai. The HTML carries those exact bytes,
// base64url-encoded without padding (RFC 4648 §5), in the element with id "dossier-data", so anyone can
// decode them and recompute the hash printed in the footer; the time the
// document was generated is outside the data, so the same record always
// has the same hash.
package dossier

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// Format is the version of Data's layout; it changes when a field does.
const Format = 1

// TimeLayout is how every time in the data is written.
const TimeLayout = "2006-01-02 15:04:05 MST"

// Site is the filing as the inventory has it.
type Site struct {
	Domain       string `json:"domain"`
	ICP          string `json:"icp,omitempty"`
	PSB          string `json:"psb,omitempty"`
	Entity       string `json:"entity,omitempty"`
	Status       string `json:"status,omitempty"`
	OwnerChannel string `json:"owner_channel,omitempty"` // the kind only, never the URL
	Tags         string `json:"tags,omitempty"`
}

// Data is everything the dossier says; its JSON encoding is what the
// footer's hash covers.
type Data struct {
	Format     int         `json:"format"`
	Site       Site        `json:"site"`
	From       string      `json:"from,omitempty"`
	To         string      `json:"to,omitempty"`
	TimeZone   string      `json:"time_zone"`
	Violations []Violation `json:"violations"`
	Notices    []Notice    `json:"notices"`
	Exemptions []Exemption `json:"exemptions"`
	Audit      []Audit     `json:"audit"`
}

// Violation is one episode of one code: from its opening to its end.
type Violation struct {
	Code     string `json:"code"`
	OpenedAt string `json:"opened_at,omitempty"`
	Deadline string `json:"deadline,omitempty"`
	// Message and Evidence are as first seen (the opening).
	Message  string  `json:"message,omitempty"`
	Evidence string  `json:"evidence,omitempty"`
	Events   []Event `json:"events"`
	// FirstSeen is the first failing run of the episode (the opening
	// needs failure_threshold of them), and Runs the runs that changed
	// it: kept for retention.record however old.
	FirstSeen string `json:"first_seen,omitempty"`
	Runs      []Run  `json:"runs"`
	// Outcome is the last status in the period: open, escalated,
	// resolved, exempted (or withdrawn).
	Outcome string `json:"outcome"`
}

// Run is one check run that changed a violation.
type Run struct {
	At       string `json:"at"`
	Check    string `json:"check"`
	Outcome  string `json:"outcome"`
	Evidence string `json:"evidence,omitempty"` // of this code, when it failed
}

// Event is one transition of a violation.
type Event struct {
	At       string `json:"at"`
	Kind     string `json:"kind"` // opened, reminder, escalated, resolved, exempted, withdrawn
	Reason   string `json:"reason,omitempty"`
	NoticeID string `json:"notice_id,omitempty"`
}

// Notice is one notice as sent, with the proof of its delivery.
type Notice struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"` // owner or ops
	CreatedAt   string    `json:"created_at"`
	State       string    `json:"state"`
	DeliveredAt string    `json:"delivered_at,omitempty"`
	Announces   []string  `json:"announces"` // "opened footer_link_missing", ...
	Text        string    `json:"text,omitempty"`
	Note        string    `json:"note,omitempty"` // why dropped or dead
	Attempts    []Attempt `json:"attempts"`
}

// Attempt is one delivery attempt.
type Attempt struct {
	At         string `json:"at"`
	Channel    string `json:"channel"`
	HTTPStatus int    `json:"http_status"`
	Delivered  bool   `json:"delivered"`
	Reply      string `json:"reply,omitempty"`
	Error      string `json:"error,omitempty"`
	Timestamp  string `json:"signed_timestamp,omitempty"`
	Signature  string `json:"signature,omitempty"`
}

// Exemption is an exemption that applied during the period.
type Exemption struct {
	ID        int64  `json:"id"`
	Scope     string `json:"scope"`
	Until     string `json:"until"`
	Reason    string `json:"reason"`
	By        string `json:"by"`
	CreatedAt string `json:"created_at"`
	RemovedAt string `json:"removed_at,omitempty"`
	RemovedBy string `json:"removed_by,omitempty"`
}

// Audit is one entry of the audit trail.
type Audit struct {
	At      string `json:"at"`
	Actor   string `json:"actor"`
	Action  string `json:"action"`
	Subject string `json:"subject,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Shanghai is the dossier's time zone: the regulator's.
var Shanghai = func() *time.Location {
	if l, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return l
	}
	return time.FixedZone("CST", 8*3600)
}()

func at(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(Shanghai).Format(TimeLayout)
}

// urlPassword is the password part of a URL's user info ("//user:pass@").
var urlPassword = regexp.MustCompile(`(//[^/?#@\s:]*):[^/?#@\s]*@`)

// Mask is free text as people may see it: mobile numbers masked and URL
// passwords hidden, whatever the producer did (crawled pages, receivers'
// replies and inventory cells are not ours).
func Mask(s string) string {
	return urlPassword.ReplaceAllString(beian.MaskMobilesIn(s), "${1}:xxxxx@")
}

// Source is what the dossier reads from the store.
type Source interface {
	SiteTransitions(ctx context.Context, domain string, from, to time.Time) ([]store.StoredTransition, error)
	RecordRuns(ctx context.Context, domain string, from, to time.Time) ([]store.SiteResult, error)
	Notices(ctx context.Context, f store.NoticeFilter) ([]store.Notice, error)
	Attempts(ctx context.Context, noticeID string) ([]store.Attempt, error)
	Exemptions(ctx context.Context, f store.ExemptionFilter) ([]store.Exemption, error)
	AuditTrail(ctx context.Context, domain string, limit int) ([]store.AuditEntry, error)
}

// runLookback is how far before the period the runs that led to its first
// openings are looked for.
const runLookback = 30 * 24 * time.Hour

// maxNotices bounds one dossier; a site with more notices than this in the
// period needs a shorter period.
const maxNotices = 10000

// Build reads site's record between from and to (zero: unbounded).
func Build(ctx context.Context, src Source, site Site, from, to time.Time) (*Data, error) {
	in := func(t time.Time) bool { return !t.Before(from) && (to.IsZero() || t.Before(to)) }
	d := &Data{Format: Format, Site: site, From: at(from), To: at(to), TimeZone: Shanghai.String(),
		Violations: []Violation{}, Notices: []Notice{}, Exemptions: []Exemption{}, Audit: []Audit{}}
	d.Site.Entity, d.Site.Tags = Mask(d.Site.Entity), Mask(d.Site.Tags)

	trs, err := src.SiteTransitions(ctx, site.Domain, from, to)
	if err != nil {
		return nil, err
	}
	// The runs before an opening count towards it: look back far enough
	// for the failures that opened the first episode of the period.
	runs, err := src.RecordRuns(ctx, site.Domain, from.Add(-runLookback), to)
	if err != nil {
		return nil, err
	}
	current := map[string]int{}  // code -> index of its latest episode
	start := map[int]time.Time{} // episode -> where its runs begin
	end := map[int]time.Time{}   // episode -> its last transition
	prevEnd := map[string]time.Time{}
	for _, t := range trs {
		i, ok := current[t.Code]
		if !ok || t.Kind == lifecycle.KindOpened {
			if ok {
				prevEnd[t.Code] = end[i]
			}
			d.Violations = append(d.Violations, Violation{Code: t.Code, OpenedAt: at(t.OpenedAt), Deadline: at(t.Deadline),
				Message: Mask(t.Message), Evidence: Mask(t.Evidence), Events: []Event{}, Runs: []Run{}})
			i = len(d.Violations) - 1
			current[t.Code] = i
			start[i] = prevEnd[t.Code]
		}
		end[i] = t.At
		v := &d.Violations[i]
		v.Events = append(v.Events, Event{At: at(t.At), Kind: string(t.Kind), Reason: Mask(t.Reason), NoticeID: t.NoticeID})
		v.Outcome = string(t.To)
		if t.Kind == lifecycle.KindWithdrawn {
			v.Outcome = string(lifecycle.KindWithdrawn)
		}
	}

	for i := range d.Violations {
		v := &d.Violations[i]
		check := lifecycle.CheckOf(v.Code)
		for _, r := range runs {
			if r.Result.Check != check || !r.At.After(start[i]) || r.At.After(end[i]) {
				continue
			}
			dr := Run{At: at(r.At), Check: check, Outcome: string(r.Result.Outcome)}
			for _, f := range r.Result.Findings {
				if f.Code == v.Code {
					dr.Evidence = Mask(f.Evidence)
					if v.FirstSeen == "" {
						v.FirstSeen = dr.At
					}
					break
				}
			}
			v.Runs = append(v.Runs, dr)
		}
	}

	ns, err := src.Notices(ctx, store.NoticeFilter{Domain: site.Domain, Limit: maxNotices})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(ns, func(i, j int) bool { return ns[i].CreatedAt.Before(ns[j].CreatedAt) })
	for _, n := range ns {
		if !in(n.CreatedAt) {
			continue
		}
		dn := Notice{ID: n.ID, Kind: string(n.Kind), CreatedAt: at(n.CreatedAt), State: string(n.State),
			DeliveredAt: at(n.DeliveredAt), Announces: []string{}, Attempts: []Attempt{}}
		if n.State == store.NoticeDropped || n.State == store.NoticeDead {
			dn.Note = Mask(n.LastError)
		}
		for _, t := range n.Payload.Transitions {
			dn.Announces = append(dn.Announces, string(t.Kind)+" "+t.Code)
		}
		if s := n.Payload.Storm; s != nil {
			dn.Announces = append(dn.Announces, fmt.Sprintf("storm %s %d/%d", s.Check, s.Failed, s.Checked))
		}
		atts, err := src.Attempts(ctx, n.ID)
		if err != nil {
			return nil, err
		}
		for _, a := range atts {
			delivered := a.Error == "" && a.StatusCode >= 200 && a.StatusCode < 300
			da := Attempt{At: at(a.At), Channel: a.Channel, HTTPStatus: a.StatusCode, Delivered: delivered,
				Reply: Mask(a.BodyExcerpt), Error: Mask(a.Error),
				Timestamp: a.SentHeaders["X-Beianwatch-Timestamp"], Signature: a.SentHeaders["X-Beianwatch-Signature"]}
			dn.Attempts = append(dn.Attempts, da)
			if a.SentText != "" && (dn.Text == "" || delivered) {
				dn.Text = Mask(a.SentText)
			}
		}
		d.Notices = append(d.Notices, dn)
	}

	es, err := src.Exemptions(ctx, store.ExemptionFilter{Domain: site.Domain})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].CreatedAt.Before(es[j].CreatedAt) })
	for _, e := range es {
		end := e.Until
		if !e.RemovedAt.IsZero() && e.RemovedAt.Before(end) {
			end = e.RemovedAt
		}
		// In the period when it applied at some point of it.
		if !to.IsZero() && !e.CreatedAt.Before(to) || end.Before(from) {
			continue
		}
		d.Exemptions = append(d.Exemptions, Exemption{ID: e.ID, Scope: e.Scope(), Until: at(e.Until), Reason: Mask(e.Reason),
			By: Mask(e.CreatedBy), CreatedAt: at(e.CreatedAt), RemovedAt: at(e.RemovedAt), RemovedBy: Mask(e.RemovedBy)})
	}

	trail, err := src.AuditTrail(ctx, site.Domain, 100000)
	if err != nil {
		return nil, err
	}
	for _, a := range trail {
		if in(a.At) {
			d.Audit = append(d.Audit, Audit{At: at(a.At), Actor: Mask(a.Actor), Action: a.Action, Subject: Mask(a.Subject), Reason: Mask(a.Reason)})
		}
	}
	return d, nil
}

// Encode is the exact bytes the hash covers (see the package comment).
func Encode(d *Data) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("encode the dossier of %s: %w", d.Site.Domain, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Hash is the hex SHA-256 of Encode(d).
func Hash(d *Data) (string, error) {
	b, err := Encode(d)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
