// Package console is the daemon's web console under /ui/: a small,
// server-rendered view of the store for compliance officers (overview,
// site, notice, dossier) and three actions (check now, add and remove an
// exemption). It is off unless the API token is set; a person signs in by
// pasting the token and gets a session cookie. Every page is a GET that
// changes nothing; every action is a POST with the session's CSRF token and
// is written to the audit trail with who did it (docs/operations.md,
// "Console").
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/beianwatch/beianwatch/monitor/dossier"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

//go:embed templates/*.tmpl static/*
var assets embed.FS

// Site is an inventory site as the console shows it (contacts masked, the
// owner channel's kind only).
type Site struct {
	Domain       string
	ICP          string
	PSB          string
	Entity       string
	Status       string
	OwnerChannel string
	Tags         []Tag
	Contacts     []string // "role: masked phone"
	Line         int
}

// Tag is one key=value label of a site.
type Tag struct{ Key, Value string }

// String is "key=value".
func (t Tag) String() string { return t.Key + "=" + t.Value }

// ExemptionForm is an exemption as the console's form submits it.
type ExemptionForm struct {
	Site, Code, Check, Until, Reason, By string
}

// Screenshot is a rendered-footer screenshot of a site.
type Screenshot struct {
	ID      string // opaque, URL-safe
	TakenAt time.Time
	Caption string
}

// Screenshots is where rendered-footer screenshots are kept, when a
// renderer is configured; the site page lists them and serves their bytes.
type Screenshots interface {
	List(ctx context.Context, domain string) ([]Screenshot, error)
	Open(ctx context.Context, domain, id string) (body io.ReadCloser, contentType string, err error)
}

// Options are the console's collaborators.
type Options struct {
	// Token is the API token; empty turns the console off.
	Token string
	Store *store.Store
	// Sites lists the inventory, Site looks one up.
	Sites func() []Site
	Site  func(domain string) (Site, bool)
	// Check queues every applicable check of domain now and returns their
	// names.
	Check           func(ctx context.Context, domain string) ([]string, error)
	AddExemption    func(ctx context.Context, f ExemptionForm) (store.Exemption, []lifecycle.Transition, error)
	RemoveExemption func(ctx context.Context, id int64, by, reason string) (store.Exemption, error)
	Dossier         func(ctx context.Context, domain string, from, to time.Time) (*dossier.Data, error)
	// Screenshots, when set, adds rendered-footer screenshots to the site
	// page.
	Screenshots Screenshots
	// SessionTTL is how long a sign-in lasts (default 12h).
	SessionTTL time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
}

// Console serves /ui/.
type Console struct {
	o     Options
	pages map[string]*template.Template

	mu       sync.Mutex
	sessions map[string]*session // by sha256 of the cookie value
}

type session struct {
	actor   string
	csrf    string
	expires time.Time
}

// CookieName is the session cookie.
const CookieName = "beianwatch_session"

// langCookie remembers the language a person chose.
const langCookie = "beianwatch_lang"

// New builds the console.
func New(o Options) (*Console, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Console{o: o, sessions: map[string]*session{}, pages: map[string]*template.Template{}}
	for _, lang := range []string{"zh", "en"} {
		fm := template.FuncMap{"t": translator(lang)}
		for k, v := range funcs {
			fm[k] = v
		}
		base, err := template.New("layout.tmpl").Funcs(fm).ParseFS(assets, "templates/layout.tmpl")
		if err != nil {
			return nil, fmt.Errorf("console templates: %w", err)
		}
		for _, p := range []string{"login", "overview", "site", "notice", "message"} {
			t, err := template.Must(base.Clone()).ParseFS(assets, "templates/"+p+".tmpl")
			if err != nil {
				return nil, fmt.Errorf("console template %s: %w", p, err)
			}
			c.pages[lang+"/"+p] = t
		}
	}
	return c, nil
}

// Handler serves every /ui/ path.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /ui/login", c.loginPage)
	mux.HandleFunc("POST /ui/login", c.login)
	mux.HandleFunc("POST /ui/logout", c.signedIn(c.logout))
	mux.HandleFunc("GET /ui/{$}", c.signedIn(c.overview))
	mux.HandleFunc("GET /ui/sites/{domain}", c.signedIn(c.sitePage))
	mux.HandleFunc("GET /ui/sites/{domain}/dossier", c.signedIn(c.dossierPage))
	mux.HandleFunc("GET /ui/sites/{domain}/screenshots/{id}", c.signedIn(c.screenshot))
	mux.HandleFunc("GET /ui/notices/{id}", c.signedIn(c.noticePage))
	mux.HandleFunc("POST /ui/sites/{domain}/check", c.signedIn(c.checkNow))
	mux.HandleFunc("POST /ui/sites/{domain}/exemptions", c.signedIn(c.addExemption))
	mux.HandleFunc("POST /ui/exemptions/{id}/remove", c.signedIn(c.removeExemption))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.o.Token == "" {
			http.Error(w, "the console is off: set the API token variable named by api.token_env", http.StatusNotFound)
			return
		}
		h := w.Header()
		// Pages hold evidence and names: no caching, no framing, no
		// script from anywhere (the console has none).
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		// ?lang= chooses the language for the pages that follow.
		if q := r.URL.Query().Get("lang"); q == "en" || q == "zh" {
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: q, Path: "/ui/", MaxAge: 365 * 24 * 3600,
				HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		}
		mux.ServeHTTP(w, r)
	})
}

// request is what a signed-in handler gets.
type request struct {
	*http.Request
	s    *session
	lang string
}

func (c *Console) signedIn(h func(http.ResponseWriter, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.session(r)
		if s == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
				return
			}
			c.message(w, r, http.StatusUnauthorized, "not_signed_in", "")
			return
		}
		req := &request{Request: r, s: s, lang: language(r)}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				c.message(w, r, http.StatusBadRequest, "bad_form", err.Error())
				return
			}
			got := r.PostFormValue("csrf")
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
				c.o.Logger.Warn("console: refused a POST with a wrong CSRF token", "path", r.URL.Path)
				c.message(w, r, http.StatusForbidden, "bad_csrf", "")
				return
			}
		}
		h(w, req)
	}
}

func sessionKey(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

func (c *Console) session(r *http.Request) *session {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		return nil
	}
	key := sessionKey(ck.Value)
	now := c.o.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sessions[key]
	if s == nil {
		return nil
	}
	if !now.Before(s.expires) {
		delete(c.sessions, key)
		return nil
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics instead on a broken system)
	return hex.EncodeToString(b)
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", map[string]any{"Next": "/ui/"}, nil)
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.message(w, r, http.StatusBadRequest, "bad_form", err.Error())
		return
	}
	token := r.PostFormValue("token")
	name := strings.TrimSpace(r.PostFormValue("name"))
	gotSum, wantSum := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(c.o.Token))
	if token == "" || subtle.ConstantTimeCompare(gotSum[:], wantSum[:]) != 1 {
		c.o.Logger.Warn("console: sign-in with a wrong token", "remote", r.RemoteAddr)
		c.render(w, r, http.StatusUnauthorized, "login", map[string]any{"Error": "wrong_token", "Name": name}, nil)
		return
	}
	if name == "" || len(name) > 100 {
		c.render(w, r, http.StatusBadRequest, "login", map[string]any{"Error": "name_required"}, nil)
		return
	}
	value := randomHex(32)
	now := c.o.Now()
	s := &session{actor: name, csrf: randomHex(32), expires: now.Add(c.o.SessionTTL)}
	c.mu.Lock()
	for k, old := range c.sessions { // forget expired sessions
		if !now.Before(old.expires) {
			delete(c.sessions, k)
		}
	}
	c.sessions[sessionKey(value)] = s
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: value, Path: "/ui/", Expires: s.expires, MaxAge: int(c.o.SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	c.o.Logger.Info("console: signed in", "who", name, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *request) {
	if ck, err := r.Cookie(CookieName); err == nil {
		c.mu.Lock()
		delete(c.sessions, sessionKey(ck.Value))
		c.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/ui/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r.Request, "/ui/login", http.StatusSeeOther)
}

// language is en when asked for (?lang=en, or an English browser), else zh.
func language(r *http.Request) string {
	switch r.URL.Query().Get("lang") {
	case "en":
		return "en"
	case "zh":
		return "zh"
	}
	if ck, err := r.Cookie(langCookie); err == nil && (ck.Value == "en" || ck.Value == "zh") {
		return ck.Value
	}
	if strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "en") {
		return "en"
	}
	return "zh"
}

// render executes page with data; s is the session (nil on the login page).
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any, s *session) {
	lang := language(r)
	data["Lang"] = lang
	data["Path"] = r.URL.Path
	if s != nil {
		data["Actor"] = s.actor
		data["CSRF"] = s.csrf
	}
	t := c.pages[lang+"/"+page]
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", data); err != nil {
		c.o.Logger.Error("console: render", "page", page, "err", err)
		http.Error(w, "could not render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, b.String())
}

// message renders a page with one message: refusals and confirmations.
func (c *Console) message(w http.ResponseWriter, r *http.Request, status int, key, detail string) {
	c.render(w, r, status, "message", map[string]any{"Key": key, "Detail": detail, "Status": status}, c.session(r))
}

func (c *Console) fail(w http.ResponseWriter, r *request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, store.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, store.ErrNotFound):
		status = http.StatusNotFound
	}
	if status == http.StatusInternalServerError {
		c.o.Logger.Error("console", "path", r.URL.Path, "err", err)
	}
	c.message(w, r.Request, status, "error", dossier.Mask(err.Error()))
}
