// Package alerts turns violation changes into rectification notices (整改通知)
// and delivers them: the notice model, its rendering in Chinese and English
// from embedded (operator-overridable) templates, and one small channel per
// destination (generic signed webhook, DingTalk, WeCom, Feishu/Lark, Slack).
//
// Durable delivery (queueing, retries, the audit trail) belongs to the
// daemon; this package builds the pieces it calls: a deterministic notice ID
// to use as the idempotency key, a Renderer, and Channels whose Send reports
// an Attempt classified as delivered, retryable or permanent.
//
// The package imports only the vocabulary (package beian: the finding-code
// registry, masking), never the daemon, the checks or the network layer,
// so that it stays usable alone (docs/architecture.md).
package alerts

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Notice kinds: who the notice is for.
const (
	// KindOwner notices go to the site owner's channel.
	KindOwner = "owner"
	// KindOps notices go to the access provider's own ops channel.
	KindOps = "ops"
)

// Notice types: what the notice is about.
const (
	// TypeRectification is the owner's 整改通知: violations opened, reminded,
	// escalated or resolved in one transition batch.
	TypeRectification = "rectification"
	// TypeEscalation tells the provider's ops channel that a site missed its
	// deadline and access is about to be cancelled (取消接入).
	TypeEscalation = "escalation"
	// TypeStorm tells the provider's ops channel that a large share of sites
	// failed one check at once and their notices are held.
	TypeStorm = "storm"
)

// Transitions of a violation, as carried in a notice.
const (
	TransitionOpened    = "opened"
	TransitionReminder  = "reminder"
	TransitionEscalated = "escalated"
	TransitionResolved  = "resolved"
)

// Languages a notice can be written in. Every notice carries both; the
// notice language only decides which comes first.
const (
	LangZH = "zh"
	LangEN = "en"
)

// SiteRef names the site a notice is about, as the owner knows it.
type SiteRef struct {
	Domain string `json:"domain"`
	ICP    string `json:"icp"`
	PSB    string `json:"psb,omitempty"`
	Entity string `json:"entity"`
}

// ViolationChange is one violation (site, code) that changed state in the
// batch the notice reports.
type ViolationChange struct {
	Code       string
	Transition string // opened | reminder | escalated | resolved
	Severity   string // violation | warning | info
	// Evidence is what the check saw (snippet, record, address). Phone
	// numbers are already masked by the checks; rendering masks any
	// unmasked mobile number again rather than trusting every caller.
	Evidence string
	// Message is the check's human message. Notices use it only for codes
	// this package has no template for.
	Message    string
	OpenedAt   time.Time
	Deadline   time.Time  // zero when the code has no deadline
	ResolvedAt *time.Time // set for resolved
}

// StormSummary describes a storm-guard event: many sites failing one check
// at once, which almost always means the fault is on our side.
type StormSummary struct {
	Check   string    // footer, shell, dns, contact
	Failing int       // sites failing in the window
	Total   int       // sites checked in the window
	Held    int       // notices held back
	Since   time.Time // when the storm began
	// Inconclusive: most runs were inconclusive (our resolver or network
	// failing), not failing; Failing counts them. Nothing is held.
	Inconclusive bool
	// Ended is set on the notice that says such a storm is over.
	Ended time.Time
}

// Share is the failing share in [0,1]; 0 when nothing was checked.
func (s StormSummary) Share() float64 {
	if s.Total <= 0 {
		return 0
	}
	return float64(s.Failing) / float64(s.Total)
}

// Notice is one message to one channel. One notice per site per
// transition batch, holding all its changed violations.
type Notice struct {
	// ID is the idempotency key: see NoticeID. A retry or a restart resends
	// the same ID and receivers deduplicate on it.
	ID       string
	Kind     string // owner | ops
	Type     string // rectification | escalation | storm
	Site     SiteRef
	Provider string // access provider's name, shown in ops notices and signatures
	// Violations changed in this batch (empty for a storm notice).
	Violations []ViolationChange
	Storm      *StormSummary // set for a storm notice
	// Language is the primary language (zh or en; "" means the renderer's
	// default). The other language follows.
	Language string
	// TimeZone is an IANA zone name for the dates in the text; "" means the
	// renderer's zone (default Asia/Shanghai).
	TimeZone string
	// SentAt is when the notice was created (the transition time). It is
	// part of the body, so it stays the same on every retry; each attempt's
	// own time travels in the channel's signature timestamp.
	SentAt time.Time
}

// NewOwnerNotice builds the owner's rectification notice for one transition
// batch of one site. batch identifies the batch durably (for example the id
// of the state-change row), so that the notice ID survives restarts. Set
// Provider afterwards to name the access provider in the text.
func NewOwnerNotice(site SiteRef, batch string, changes []ViolationChange, lang string, sentAt time.Time) *Notice {
	return &Notice{
		ID:         NoticeID(KindOwner, TypeRectification, site.Domain, batch),
		Kind:       KindOwner,
		Type:       TypeRectification,
		Site:       site,
		Violations: changes,
		Language:   lang,
		SentAt:     sentAt,
	}
}

// NewEscalationNotice builds the ops notice telling the provider that the
// site's deadline passed for the escalated violations in changes.
func NewEscalationNotice(provider string, site SiteRef, batch string, changes []ViolationChange, lang string, sentAt time.Time) *Notice {
	return &Notice{
		ID:         NoticeID(KindOps, TypeEscalation, site.Domain, batch),
		Kind:       KindOps,
		Type:       TypeEscalation,
		Site:       site,
		Provider:   provider,
		Violations: changes,
		Language:   lang,
		SentAt:     sentAt,
	}
}

// NewStormNotice builds the ops notice for a storm-guard event. batch
// identifies the storm (for example the check name and the storm's start).
func NewStormNotice(provider string, s StormSummary, batch string, lang string, sentAt time.Time) *Notice {
	return &Notice{
		ID:       NoticeID(KindOps, TypeStorm, s.Check, batch),
		Kind:     KindOps,
		Type:     TypeStorm,
		Provider: provider,
		Storm:    &s,
		Language: lang,
		SentAt:   sentAt,
	}
}

// NormalizeLanguage maps a configured language ("zh", "zh-CN", "en-US",
// "EN") to zh or en. "" stays "" (the renderer's default).
func NormalizeLanguage(lang string) (string, error) {
	l := strings.ToLower(strings.TrimSpace(lang))
	switch {
	case l == "":
		return "", nil
	case l == LangZH || strings.HasPrefix(l, "zh-") || strings.HasPrefix(l, "zh_"):
		return LangZH, nil
	case l == LangEN || strings.HasPrefix(l, "en-") || strings.HasPrefix(l, "en_"):
		return LangEN, nil
	}
	return "", fmt.Errorf("unsupported notice language %q (want zh or en)", lang)
}

// Validate reports every problem that would make the notice wrong to send,
// joined in one error.
func (n *Notice) Validate() error {
	if n == nil {
		return errors.New("notice is nil")
	}
	var errs []error
	if n.ID == "" {
		errs = append(errs, errors.New("notice has no id"))
	}
	if _, err := NormalizeLanguage(n.Language); err != nil {
		errs = append(errs, err)
	}
	if n.SentAt.IsZero() {
		errs = append(errs, errors.New("notice has no sent_at"))
	}
	switch n.Type {
	case TypeRectification, TypeEscalation:
		wantKind := KindOwner
		if n.Type == TypeEscalation {
			wantKind = KindOps
		}
		if n.Kind != wantKind {
			errs = append(errs, fmt.Errorf("%s notice must be kind %q, not %q", n.Type, wantKind, n.Kind))
		}
		if n.Site.Domain == "" {
			errs = append(errs, errors.New("notice has no site domain"))
		}
		if len(n.Violations) == 0 {
			errs = append(errs, errors.New("notice holds no violation changes"))
		}
		for i, v := range n.Violations {
			if err := v.validate(); err != nil {
				errs = append(errs, fmt.Errorf("violation %d (%s): %w", i+1, v.Code, err))
			}
			// Ops hears of escalations, and of the openings of codes it
			// must know at once (an empty-shell entity).
			if n.Type == TypeEscalation && v.Transition != TransitionEscalated && (v.Transition != TransitionOpened || !OpsOnOpen(v.Code)) {
				errs = append(errs, fmt.Errorf("violation %d (%s): escalation notice holds a %q change", i+1, v.Code, v.Transition))
			}
		}
	case TypeStorm:
		if n.Kind != KindOps {
			errs = append(errs, fmt.Errorf("storm notice must be kind %q, not %q", KindOps, n.Kind))
		}
		if n.Storm == nil {
			errs = append(errs, errors.New("storm notice has no storm summary"))
		} else if n.Storm.Check == "" || n.Storm.Failing < 0 || n.Storm.Total < n.Storm.Failing || n.Storm.Held < 0 {
			errs = append(errs, fmt.Errorf("storm summary is inconsistent: check %q, %d of %d failing, %d held",
				n.Storm.Check, n.Storm.Failing, n.Storm.Total, n.Storm.Held))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown notice type %q", n.Type))
	}
	return errors.Join(errs...)
}

func (v ViolationChange) validate() error {
	if v.Code == "" {
		return errors.New("no code")
	}
	switch v.Transition {
	case TransitionOpened, TransitionReminder, TransitionEscalated:
	case TransitionResolved:
		if v.ResolvedAt == nil {
			return errors.New("resolved without resolved_at")
		}
	default:
		return fmt.Errorf("unknown transition %q", v.Transition)
	}
	if v.OpenedAt.IsZero() {
		return errors.New("no opened_at")
	}
	return nil
}
