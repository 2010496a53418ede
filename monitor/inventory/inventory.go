// Package inventory loads the list of watched sites (columns as in
// configs/sites.example.csv and docs/operations.md) from a CSV or YAML
// file, lints every record (docs/rules.md) and keeps it fresh while the daemon
// runs.
//
// Loading never lets one bad record cost the good ones: a record with any
// problem is skipped and reported as a LintError with its line, and the rest
// load. Only a file that cannot be read, or whose header (CSV) or top level
// (YAML) is broken, fails as a whole.
//
// An Inventory is never modified after loading, so it can be shared between
// goroutines; a reload builds a new one.
package inventory

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/beianwatch/beianwatch/alerts"
	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/config"
)

// Channel is where a site owner's notices go; the same shape as the
// provider's ops channel.
type Channel = config.Channel

// Site is one watched site: what the checks need, plus what the daemon needs
// to tell its owner.
type Site struct {
	beian.Site
	// Line is where the record starts in the inventory file.
	Line int
	// Owner is the owner's notice channel; zero when the owner has none
	// (notices then reach only the provider's ops channel).
	Owner Channel
	// Tags are free labels (customer=acme), in file order; nil when there
	// are none.
	Tags Tags
}

// Tag is one free label of a site.
type Tag struct{ Key, Value string }

// Tags are a site's labels. A slice, not a map: a site has one or two, and
// a map costs about 300 bytes, a third of a site's memory in a 100,000-site
// inventory.
type Tags []Tag

// Get returns the value of key.
func (t Tags) Get(key string) (string, bool) {
	for _, tag := range t {
		if tag.Key == key {
			return tag.Value, true
		}
	}
	return "", false
}

// MarshalJSON writes the tags as an object, {"customer": "acme"}.
func (t Tags) MarshalJSON() ([]byte, error) {
	m := make(map[string]string, len(t))
	for _, tag := range t {
		m[tag.Key] = tag.Value
	}
	return json.Marshal(m)
}

// Inventory is a loaded inventory.
type Inventory struct {
	// Sites in file order.
	Sites []*Site
	// Path is the file it was loaded from.
	Path string
	// Digest is the hex SHA-256 of the file's bytes: equal digests, equal
	// inventories.
	Digest string
	// Encoding is the text encoding the file was read in: "utf-8", or
	// "gb18030" for a CSV saved by a spreadsheet on Chinese Windows.
	Encoding string

	byDomain map[string]*Site
}

// Lookup finds a site by domain, written in any form NormalizeDomain
// accepts (any case, Unicode, trailing dot); nil when not in the inventory.
func (inv *Inventory) Lookup(domain string) *Site {
	if inv == nil {
		return nil
	}
	if d, err := beian.NormalizeDomain(domain); err == nil {
		domain = d
	}
	return inv.byDomain[domain]
}

// Len is the number of sites.
func (inv *Inventory) Len() int {
	if inv == nil {
		return 0
	}
	return len(inv.Sites)
}

// LintError is one problem with one record. The record it belongs to was
// skipped. Parse masks the mobile numbers in Domain, Field and Msg
// (138****5678), so it can be printed and logged as it is.
type LintError struct {
	Line   int
	Domain string // as written, mobiles masked; "" when the record has none
	Field  string // the column or key at fault; "" for the whole record
	Msg    string
}

func (e LintError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "line %d", e.Line)
	if e.Domain != "" {
		fmt.Fprintf(&b, " (%s)", e.Domain)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Field names: the CSV columns and the YAML keys.
const (
	FieldDomain         = "domain"
	FieldICP            = "icp"
	FieldPSB            = "psb"
	FieldStatus         = "status"
	FieldEntity         = "entity"
	FieldURL            = "url"
	FieldIPRanges       = "ip_ranges"
	FieldContacts       = "contacts"
	FieldOwnerChannel   = "owner_channel"
	FieldOwnerURL       = "owner_url"
	FieldOwnerSecretEnv = "owner_secret_env"
	FieldTags           = "tags"
)

// fields lists every field in the documented column order.
var fields = []string{FieldDomain, FieldICP, FieldPSB, FieldStatus, FieldEntity, FieldURL,
	FieldIPRanges, FieldContacts, FieldOwnerChannel, FieldOwnerURL, FieldOwnerSecretEnv, FieldTags}

// requiredFields must be present as columns (CSV) and non-empty in every
// record.
var requiredFields = []string{FieldDomain, FieldICP, FieldStatus}

// contactRoles are the filing contact roles.
var contactRoles = []string{"entity_head", "site_head", "emergency"}

// Load reads and lints an inventory file; the format follows the extension
// (.csv, .yaml, .yml). The error is for a file that cannot be used at all;
// bad records come back as lint errors and are left out of the inventory.
func Load(path string) (*Inventory, []LintError, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read inventory: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for a file already in memory; name gives the format (by its
// extension) and appears in errors.
func Parse(name string, data []byte) (*Inventory, []LintError, error) {
	sum := sha256.Sum256(data)
	b := newBuilder()
	inv := &Inventory{Path: name, Digest: hex.EncodeToString(sum[:]), Encoding: "utf-8"}
	var err error
	switch ext := strings.ToLower(filepath.Ext(name)); ext {
	case ".csv":
		inv.Encoding, err = parseCSV(name, data, b)
	case ".yaml", ".yml":
		err = parseYAML(name, data, b)
	default:
		err = fmt.Errorf("inventory %s: unknown format %q (want .csv, .yaml or .yml)", name, ext)
	}
	if err != nil {
		return nil, nil, err
	}
	inv.Sites, inv.byDomain = b.sites, b.byDomain
	slices.SortStableFunc(b.lint, func(a, b LintError) int { return a.Line - b.Line })
	for i := range b.lint {
		b.lint[i] = b.lint[i].masked()
	}
	return inv, b.lint, nil
}

// masked hides the mobile numbers in e. Lint quotes the bad cell, which may
// be a phone number typed into the wrong column (or a YAML key), and lint
// reaches logs, "beianwatch validate" and audit output: masking it here
// covers them all.
func (e LintError) masked() LintError {
	e.Domain = beian.MaskMobilesIn(clip(e.Domain))
	e.Field = beian.MaskMobilesIn(e.Field)
	e.Msg = beian.MaskMobilesIn(e.Msg)
	return e
}

// ErrNoGoodRecords: the file has records but none of them passed lint. It
// is almost always a broken export, not an intent to watch nothing.
var ErrNoGoodRecords = errors.New("no record passed lint")

// record is one record as written, before lint, whichever the format.
type record struct {
	line int
	// values by field index (see fields); lists are already split.
	domain, icp, psb, status, entity, url  string
	ownerChannel, ownerURL, ownerSecretEnv string
	ipRanges, contacts, tags               []string
	// lines of individual fields and list items, when the format knows
	// them (YAML).
	fieldLines map[string]int
	itemLines  map[string][]int
	// notRecord: what stood in the record's place was not one (a YAML
	// scalar in the list); its problems say so and nothing else is linted.
	// A record with an oversized cell is treated the same way: only the
	// size problem is reported, so that no later message quotes the cell.
	notRecord bool
	// problems found while reading the record (wrong cell count, unknown
	// key); the record is rejected with them.
	problems []LintError
}

// lineOfItem is the line of item i of a list field.
func (r *record) lineOfItem(field string, i int) int {
	if ls := r.itemLines[field]; i < len(ls) {
		return ls[i]
	}
	return r.lineOf(field)
}

func (r *record) lineOf(field string) int {
	if l, ok := r.fieldLines[field]; ok {
		return l
	}
	return r.line
}

// builder lints records and collects the good ones.
type builder struct {
	sites     []*Site
	byDomain  map[string]*Site
	firstLine map[string]int // domain -> line of its first record, good or not
	lint      []LintError
}

func newBuilder() *builder {
	return &builder{byDomain: map[string]*Site{}, firstLine: map[string]int{}}
}

// add lints r; a record with any problem is reported whole and skipped, so
// the daemon never acts on a half-understood filing.
func (b *builder) add(r *record) {
	var errs []LintError
	fail := func(field, format string, args ...any) {
		errs = append(errs, LintError{Line: r.lineOf(field), Domain: r.domain, Field: field, Msg: boundMsg(fmt.Sprintf(format, args...), r)})
	}
	failItem := func(field string, i int, format string, args ...any) {
		errs = append(errs, LintError{Line: r.lineOfItem(field, i), Domain: r.domain, Field: field, Msg: boundMsg(fmt.Sprintf(format, args...), r)})
	}
	for _, p := range r.problems {
		p.Domain = r.domain
		errs = append(errs, p)
	}
	if r.notRecord {
		b.lint = append(b.lint, errs...)
		return
	}
	s := &Site{Line: r.line}

	switch {
	case r.domain == "":
		fail(FieldDomain, "required")
	default:
		d, err := beian.NormalizeDomain(r.domain)
		if err != nil {
			fail(FieldDomain, "%v", err)
			break
		}
		if first, dup := b.firstLine[d]; dup {
			fail(FieldDomain, "duplicate domain %s: first listed at line %d", d, first)
			break
		}
		b.firstLine[d] = r.line
		s.Domain = d
	}

	if r.icp == "" {
		fail(FieldICP, "required")
	} else if n, err := beian.ParseICP(r.icp); err != nil {
		fail(FieldICP, "%v", err)
	} else {
		s.ICP = &n
	}

	if r.psb != "" {
		if n, err := beian.ParsePSB(r.psb); err != nil {
			fail(FieldPSB, "%v", err)
		} else {
			s.PSB = &n
			if s.ICP != nil && !n.MatchesProvince(*s.ICP) {
				fail(FieldPSB, "PSB number %s has province code %s, but the ICP number %s is filed in %c (code %s)",
					n, n.Code[:2], s.ICP, s.ICP.Province, beian.ProvinceCode(s.ICP.Province))
			}
		}
	}

	if r.status == "" {
		fail(FieldStatus, "required")
	} else if st, ok := beian.ParseStatus(strings.ToLower(r.status)); !ok {
		fail(FieldStatus, "unknown status %q (want one of %s)", r.status, joinStatuses())
	} else {
		s.Status = st
	}

	s.Entity = r.entity

	if r.url != "" {
		if msg := checkHTTPURL(r.url, true); msg != "" {
			fail(FieldURL, "%s", msg)
		} else {
			s.URL = r.url
		}
	}

	for i, item := range r.ipRanges {
		ipr, err := beian.ParseIPRange(item)
		if err != nil {
			failItem(FieldIPRanges, i, "%v%s", err, listHint(item))
			continue
		}
		// 203.0.113.5/24 may mean the block or the one address; widening
		// it silently could hide a site that moved off its filed address.
		if p, perr := netip.ParsePrefix(strings.TrimSpace(item)); perr == nil && p.Masked() != p {
			failItem(FieldIPRanges, i, "CIDR %q has host bits set: write %s for the whole block or %s for the one address",
				item, p.Masked(), p.Addr())
			continue
		}
		s.IPRanges = append(s.IPRanges, ipr)
	}

	for i, item := range r.contacts {
		c, msg := parseContact(item)
		if msg != "" {
			failItem(FieldContacts, i, "%s", msg)
			continue
		}
		s.Contacts = append(s.Contacts, c)
	}

	b.lintOwner(r, s, fail)

	for i, item := range r.tags {
		k, v, ok := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok || k == "":
			failItem(FieldTags, i, "tag %q: want key=value", item)
			continue
		case strings.ContainsAny(k, " \t"):
			failItem(FieldTags, i, "tag key %q contains spaces", k)
			continue
		}
		if _, dup := s.Tags.Get(k); dup {
			failItem(FieldTags, i, "tag %q given twice", k)
			continue
		}
		s.Tags = append(s.Tags, Tag{Key: strings.Clone(k), Value: strings.Clone(v)})
	}

	if len(errs) > 0 {
		b.lint = append(b.lint, errs...)
		return
	}
	b.sites = append(b.sites, s)
	b.byDomain[s.Domain] = s
}

func (b *builder) lintOwner(r *record, s *Site, report func(field, format string, args ...any)) {
	if r.ownerChannel == "" && r.ownerURL == "" && r.ownerSecretEnv == "" {
		return
	}
	failed := false
	fail := func(field, format string, args ...any) {
		failed = true
		report(field, format, args...)
	}
	kind := strings.ToLower(r.ownerChannel)
	switch {
	case kind == "":
		fail(FieldOwnerChannel, "required when owner_url or owner_secret_env is set (one of %s)", strings.Join(alerts.ChannelKinds(), ", "))
	case !slices.Contains(alerts.ChannelKinds(), kind):
		fail(FieldOwnerChannel, "unknown channel %q (want one of %s)", r.ownerChannel, strings.Join(alerts.ChannelKinds(), ", "))
	}
	if r.ownerURL == "" {
		fail(FieldOwnerURL, "required when owner_channel is set")
	} else if msg := checkHTTPURL(r.ownerURL, false); msg != "" {
		fail(FieldOwnerURL, "%s", msg)
	}
	if r.ownerSecretEnv != "" && !config.ValidEnvName(r.ownerSecretEnv) {
		// Not quoted back: the secret itself may have been pasted here.
		fail(FieldOwnerSecretEnv, "not a valid environment variable name; this column holds the NAME of the variable holding the secret, never the secret")
	}
	if !failed {
		// The channel kind's own rules (a WeCom URL without its key, a
		// webhook without a signing secret): refused here, with the
		// record's line, rather than as a dead notice at the first send.
		if err := alerts.ValidateChannel(kind, r.ownerURL, r.ownerSecretEnv != ""); err != nil {
			field := FieldOwnerURL
			var ce *alerts.ChannelConfigError
			if errors.As(err, &ce) && ce.Field == "secret" {
				field = FieldOwnerSecretEnv
			}
			fail(field, "%s: %v", kind, err)
		}
	}
	s.Owner = Channel{Kind: kind, URL: r.ownerURL, SecretEnv: r.ownerSecretEnv}
}

// checkHTTPURL returns why s is not an absolute http(s) URL, or "". Owner
// URLs are not quoted back whole: webhook URLs carry tokens.
func checkHTTPURL(s string, quote bool) string {
	shown := func() string {
		if quote {
			return fmt.Sprintf("%q", s)
		}
		return config.RedactURL(s)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Sprintf("%s is not a valid URL", shown())
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%s: want an http:// or https:// URL", shown())
	case u.Host == "":
		return fmt.Sprintf("%s: URL has no host", shown())
	}
	return ""
}

// parseContact reads "role:phone". A phone the contact check will find
// malformed is kept: that is a finding about the filing, not a lint error.
// Messages mask anything that looks like a phone number.
func parseContact(item string) (beian.Contact, string) {
	role, phone, ok := strings.Cut(item, ":")
	if !ok {
		// Full-width colon, as typed with a Chinese input method.
		role, phone, ok = strings.Cut(item, "：")
	}
	role, phone = strings.ToLower(strings.TrimSpace(role)), strings.TrimSpace(phone)
	if !ok {
		return beian.Contact{}, fmt.Sprintf("contact %q: want role:phone with role one of %s", checks.MaskNumbersIn(item), strings.Join(contactRoles, ", "))
	}
	// A known role, in any spelling the contact check accepts (主体负责人
	// is entity_head), is stored canonical. An unknown one is kept: the
	// contact check reports it (contact_role_unknown, a warning) and still
	// checks the number, and the site's other checks run; rejecting the
	// whole record for a label would stop watching the site. A "role"
	// with digits in it is no label but a swapped or broken cell.
	if canon, err := checks.ParseContactRole(role); err == nil {
		role = canon
	} else if role == "" || strings.ContainsAny(role, "0123456789") {
		return beian.Contact{}, fmt.Sprintf("contact %q: want role:phone with role one of %s", checks.MaskNumbersIn(item), strings.Join(contactRoles, ", "))
	}
	if phone == "" {
		return beian.Contact{}, fmt.Sprintf("contact %q: no phone number", role)
	}
	// Two contacts in one item (a comma list, or a missing ';') would
	// reach the contact check as one malformed phone and open a false
	// contact_invalid_format violation.
	if strings.ContainsAny(phone, listSeparatorsNot+":：") {
		return beian.Contact{}, fmt.Sprintf("contact %q: more than one phone or contact in one item%s", checks.MaskNumbersIn(item), listSeparator)
	}
	return beian.Contact{Role: role, Phone: phone}, ""
}

func joinStatuses() string {
	names := make([]string, len(beian.Statuses()))
	for i, s := range beian.Statuses() {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// listSeparatorsNot are separators people use for lists that are not
// the inventory's; a value holding one is almost always a list written
// the wrong way.
const listSeparatorsNot = ",，、"

const listSeparator = "; lists inside a cell are separated by ';'"

// listHint explains a bad list item that holds a wrong separator.
func listHint(item string) string {
	if strings.ContainsAny(item, listSeparatorsNot) {
		return listSeparator
	}
	return ""
}

// splitList splits a cell holding a ';'-separated list. The full-width '；'
// counts too: spreadsheets typed with a Chinese input method have it.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '；' }) {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// stripBOM removes a UTF-8 byte order mark; spreadsheets add one.
func stripBOM(data []byte) []byte {
	return bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
}
