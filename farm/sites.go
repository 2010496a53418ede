// Package farm simulates filed websites on loopback for the demo and the
// benchmark: HTTP virtual hosts, a DNS server, a number-status provider and
// a webhook receiver, plus the inventory and configuration that point
// beianwatch (or blackbox_exporter) at them.
//
// A farm is generated from a site count and a seed. The mix of site states
// has fixed proportions (mix), so the findings beianwatch must report are
// known in advance (Expect); the farm's tests run the real checks against a
// sample of its sites, so the farm and the checks keep each other honest.
package farm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/beianwatch/beianwatch/checks"
)

// State is what is wrong (or right) with a simulated site.
type State string

// The site states. Each has a fixed weight in mix and a fixed expectation in
// Expect.
const (
	CompliantUTF8    State = "compliant_utf8"    // number and PSB shown and linked, UTF-8
	CompliantGBK     State = "compliant_gbk"     // the same page served in GBK
	LinkObsolete     State = "link_obsolete"     // linked to the dead www.miitbeian.gov.cn
	LinkMissing      State = "link_missing"      // number shown, not linked
	ICPMissing       State = "icp_missing"       // no filing number on the page
	ICPWrong         State = "icp_wrong"         // another entity's number
	PSBMissing       State = "psb_missing"       // PSB number on file, not shown
	PSBUnlinked      State = "psb_unlinked"      // PSB number shown, not linked
	Placeholder      State = "placeholder"       // nginx welcome page
	Unresolvable     State = "unresolvable"      // NXDOMAIN for the domain and www.
	OffProvider      State = "off_provider"      // resolves outside the filed and provider ranges
	PendingResolving State = "pending_resolving" // first filing pending, still resolving
	PendingPaused    State = "pending_paused"    // first filing pending, DNS paused (compliant)
	PhoneInvalid     State = "phone_invalid"     // contact number of an unallocated segment
	PhoneVacant      State = "phone_vacant"      // contact number the provider says is vacant
)

// Weight is a state's share of the farm, in percent.
type Weight struct {
	State   State
	Percent int
}

// mix is the fixed mix of states; the percentages sum to 100. The share of
// sites failing any one check, among the sites that check applies to (the
// dns check: only sites in first filing), stays under the daemon's default
// storm-guard share (50%), as in a real inventory, so notices are not held.
var mix = []Weight{
	{CompliantUTF8, 26},
	{CompliantGBK, 12},
	{LinkObsolete, 7},
	{LinkMissing, 7},
	{ICPMissing, 6},
	{ICPWrong, 5},
	{PSBMissing, 4},
	{PSBUnlinked, 4},
	{Placeholder, 5},
	{Unresolvable, 4},
	{OffProvider, 4},
	{PendingResolving, 2},
	{PendingPaused, 4},
	{PhoneInvalid, 5},
	{PhoneVacant, 5},
}

// States lists the states in mix order.
func States() []State {
	out := make([]State, len(mix))
	for i, w := range mix {
		out[i] = w.State
	}
	return out
}

// Options shape a farm.
type Options struct {
	Sites int    // number of sites, at least 1
	Seed  uint64 // same seed and options, same farm
	// SlowShare is the fraction (0..1) of the sites served over HTTP that
	// answer only after SlowDelay. Of those, HangShare (0..1) send half a
	// page and then never finish the body.
	SlowShare float64
	SlowDelay time.Duration
	HangShare float64
	// ScriptShare is the fraction (0..1) of the sites with a footer whose
	// footer is drawn by an inline script, as single-page apps and theme
	// builds do: only a browser sees it (docs/checks.md, rendering).
	ScriptShare float64
	// Zone is the parent domain of every site; default "farm.test" (a
	// reserved name that never reaches the real DNS).
	Zone string
	// Hosts is how many server addresses the sites are spread over, as
	// at a hosting provider: 0 or 1 puts every site on ProviderAddr, one
	// shared host. With more, BigHostShare (0..1) of the sites, the first
	// ones of the inventory, live on ProviderAddr, and the others take
	// turns on Hosts-1 addresses of ExtraHostsPrefix.
	Hosts        int
	BigHostShare float64
}

// ExtraHostsPrefix holds the farm's server addresses beyond ProviderAddr
// (loopback: Linux routes the whole of 127.0.0.0/8 to lo).
const ExtraHostsPrefix = "127.1.0.0/16"

// maxHosts is what ExtraHostsPrefix holds, less the two ends.
const maxHosts = 1<<16 - 2

func (o *Options) defaults() error {
	if o.Sites < 1 {
		return fmt.Errorf("farm: want at least 1 site, got %d", o.Sites)
	}
	if o.ScriptShare < 0 || o.ScriptShare > 1 {
		return fmt.Errorf("farm: script share %v must be a fraction in [0, 1]", o.ScriptShare)
	}
	if o.SlowShare < 0 || o.SlowShare > 1 || o.HangShare < 0 || o.HangShare > 1 {
		return fmt.Errorf("farm: slow share %v and hang share %v must be fractions in [0, 1]", o.SlowShare, o.HangShare)
	}
	if o.SlowShare > 0 && o.SlowDelay <= 0 {
		o.SlowDelay = 2 * time.Second
	}
	if o.Zone == "" {
		o.Zone = "farm.test"
	}
	if o.Hosts < 0 || o.Hosts > maxHosts {
		return fmt.Errorf("farm: %d hosts; want 0 to %d", o.Hosts, maxHosts)
	}
	if o.BigHostShare < 0 || o.BigHostShare > 1 {
		return fmt.Errorf("farm: big host share %v must be a fraction in [0, 1]", o.BigHostShare)
	}
	if _, err := checks.NormalizeDomain("x." + o.Zone); err != nil {
		return fmt.Errorf("farm: zone %q: %w", o.Zone, err)
	}
	return nil
}

// Site is one simulated site.
type Site struct {
	Index  int
	Domain string
	State  State
	ICP    checks.ICPNumber
	PSB    *checks.PSBNumber // nil when the filing has none
	// OtherICP is the number an ICPWrong page shows instead of ICP.
	OtherICP checks.ICPNumber
	Status   checks.Status
	Entity   string
	// Mobile and Landline are the filed contacts (site_head, entity_head).
	Mobile, Landline string
	// Group picks the owner's webhook secret (one of OwnerGroups).
	Group int
	// Delay before the response; Hang: the body never finishes.
	Delay time.Duration
	Hang  bool
	// Scripted: the footer is drawn by an inline script.
	Scripted bool
	// Host is the address the site is filed at and, unless it moved off
	// the provider, served from.
	Host string
}

// Resolves reports whether the farm DNS answers with an address for it.
func (s *Site) Resolves() bool { return s.State != Unresolvable && s.State != PendingPaused }

// Addr is the IPv4 address the farm DNS gives the site: its Host inside
// the provider's ranges, 127.0.0.2 outside them for OffProvider; "" when
// it does not resolve.
func (s *Site) Addr() string {
	switch {
	case !s.Resolves():
		return ""
	case s.State == OffProvider:
		return OffProviderAddr
	}
	return s.Host
}

// Addresses of the farm.
const (
	ProviderAddr    = "127.0.0.1"
	OffProviderAddr = "127.0.0.2"
)

// OwnerGroups is how many owner webhook secrets the farm hands out (owners
// are grouped as customers would be).
const OwnerGroups = 4

// Farm is a generated set of sites.
type Farm struct {
	Opts     Options
	Sites    []*Site
	byDomain map[string]*Site
	// numbers maps a contact mobile in E.164 form to the status the farm's
	// number-status provider reports.
	numbers map[string]checks.PhoneStatus
	// EmptyShellEntity is the entity number of the farm's one empty-shell
	// entity (all of its sites are shells); "" when the farm is too small
	// to have one (see groupEntities).
	EmptyShellEntity string
}

// Generate builds a farm. The same options give the same farm: states,
// domains, numbers and slow sites all come from one PCG stream seeded by
// Seed.
func Generate(opts Options) (*Farm, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x62656961_6e776174)) // "beianwat"
	counts := Counts(opts.Sites)
	states := make([]State, 0, opts.Sites)
	for _, w := range mix {
		for range counts[w.State] {
			states = append(states, w.State)
		}
	}
	rng.Shuffle(len(states), func(i, j int) { states[i], states[j] = states[j], states[i] })

	f := &Farm{Opts: opts, byDomain: make(map[string]*Site, opts.Sites), numbers: map[string]checks.PhoneStatus{}}
	usedDigits := map[string]bool{}
	usedPhones := map[string]bool{}
	for i, st := range states {
		s := &Site{Index: i, State: st, Status: checks.StatusFiled, Group: i % OwnerGroups}
		s.Domain = fmt.Sprintf("%s%d.%s", syllables(rng, 2), i+1, opts.Zone)
		prov := provinceChars[rng.IntN(len(provinceChars))]
		s.ICP = checks.ICPNumber{Province: prov, Digits: uniqueDigits(rng, usedDigits, 8), Suffix: fmt.Sprint(1 + rng.IntN(3))}
		s.OtherICP = checks.ICPNumber{Province: prov, Digits: uniqueDigits(rng, usedDigits, 8), Suffix: "1"}
		s.Entity = entityName(rng, prov)
		if st != Placeholder {
			// Placeholders are filings without a PSB number, so that their
			// only footer finding is the missing filing number.
			s.PSB = &checks.PSBNumber{Province: prov, Code: checks.ProvinceCode(prov) + digits(rng, 12)}
		}
		if st == PendingResolving || st == PendingPaused {
			s.Status = checks.StatusFirstFilingPending
		}
		s.Mobile = uniqueMobile(rng, usedPhones)
		s.Landline = "010-6" + digits(rng, 7)
		switch st {
		case PhoneInvalid:
			// 12x is no allocated mobile segment: a format violation that
			// needs no lookup.
			s.Mobile = "12" + digits(rng, 9)
		case PhoneVacant:
			f.numbers["+86"+s.Mobile] = checks.PhoneVacant
		default:
			f.numbers["+86"+s.Mobile] = checks.PhoneOK
		}
		f.Sites = append(f.Sites, s)
		f.byDomain[s.Domain] = s
	}
	f.placeHosts()

	// Script-drawn footers, drawn from the served UTF-8 pages with a
	// footer, with their own stream so the other draws stay as they were.
	if opts.ScriptShare > 0 {
		var eligible []*Site
		for _, s := range f.Sites {
			if s.Served() && s.State != Placeholder && s.State != CompliantGBK {
				eligible = append(eligible, s)
			}
		}
		n := int(float64(len(eligible))*opts.ScriptShare + 0.5)
		crng := rand.New(rand.NewPCG(opts.Seed, 0x73637269)) // "scri"
		crng.Shuffle(len(eligible), func(i, j int) { eligible[i], eligible[j] = eligible[j], eligible[i] })
		for _, s := range eligible[:n] {
			s.Scripted = true
		}
	}

	f.groupEntities()

	// Slow and hanging sites, drawn from those served over HTTP, after the
	// states so that changing the slow share leaves the states alone.
	if opts.SlowShare > 0 {
		var served []*Site
		for _, s := range f.Sites {
			if s.Served() {
				served = append(served, s)
			}
		}
		slow := int(float64(len(served))*opts.SlowShare + 0.5)
		srng := rand.New(rand.NewPCG(opts.Seed, 0x736c6f77)) // "slow"
		srng.Shuffle(len(served), func(i, j int) { served[i], served[j] = served[j], served[i] })
		hang := int(float64(slow)*opts.HangShare + 0.5)
		for i, s := range served[:slow] {
			s.Delay = opts.SlowDelay
			s.Hang = i < hang
		}
	}
	return f, nil
}

// placeHosts gives every site its Host (see Options.Hosts).
func (f *Farm) placeHosts() {
	extra := f.ExtraHosts()
	big := len(f.Sites)
	if len(extra) > 0 {
		big = int(float64(len(f.Sites))*f.Opts.BigHostShare + 0.5)
	}
	for i, s := range f.Sites {
		if i < big {
			s.Host = ProviderAddr
		} else {
			s.Host = extra[(i-big)%len(extra)]
		}
	}
}

// ExtraHosts lists the addresses beyond ProviderAddr that the farm's
// sites live on (Options.Hosts - 1 of them).
func (f *Farm) ExtraHosts() []string {
	var out []string
	for i := 1; i < f.Opts.Hosts; i++ {
		out = append(out, fmt.Sprintf("127.1.%d.%d", i>>8, i&0xff))
	}
	return out
}

// ProviderRanges are the provider's address ranges: ProviderAddr, and
// ExtraHostsPrefix when the farm has more hosts.
func (f *Farm) ProviderRanges() []string {
	if f.Opts.Hosts > 1 {
		return []string{ProviderAddr + "/32", ExtraHostsPrefix}
	}
	return []string{ProviderAddr + "/32"}
}

// Served reports whether the site has a page on the farm's HTTP server
// (it resolves and is not a site in first filing, whose page nobody checks).
func (s *Site) Served() bool { return s.Resolves() && s.Status == checks.StatusFiled }

// Counts splits n sites over mix by the largest-remainder method. When n
// allows, every state gets at least one site, so that even a small demo
// farm shows every case.
func Counts(n int) map[State]int {
	out := map[State]int{}
	rest := n
	if n >= len(mix) {
		for _, w := range mix {
			out[w.State] = 1
		}
		rest = n - len(mix)
	}
	type rem struct {
		i    int
		frac int
	}
	rems := make([]rem, len(mix))
	given := 0
	for i, w := range mix {
		q := rest * w.Percent
		out[w.State] += q / 100
		given += q / 100
		rems[i] = rem{i, q % 100}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].frac > rems[b].frac })
	for k := 0; given < rest; k++ {
		out[mix[rems[k].i].State]++
		given++
	}
	return out
}

// Lookup finds a site by domain or its www. name.
func (f *Farm) Lookup(name string) *Site {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if s, ok := f.byDomain[name]; ok {
		return s
	}
	return f.byDomain[strings.TrimPrefix(name, "www.")]
}

// NumberStatus is what the farm's number-status provider says of an E.164
// number; unknown for numbers the farm never handed out.
func (f *Farm) NumberStatus(e164 string) checks.PhoneStatus {
	if st, ok := f.numbers[e164]; ok {
		return st
	}
	return checks.PhoneUnknown
}

// Sample picks up to perState sites of every state (and every slow and
// hanging site up to perState each), in index order, for tests and the
// printed table.
func (f *Farm) Sample(perState int) []*Site {
	seen := map[string]int{}
	var out []*Site
	for _, s := range f.Sites {
		key := string(s.State)
		switch {
		case s.Hang:
			key += "/hang"
		case s.Delay > 0:
			key += "/slow"
		}
		if seen[key] < perState {
			seen[key]++
			out = append(out, s)
		}
	}
	return out
}

// provinceChars are the canonical province characters the farm files in.
var provinceChars = []rune("京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼")

var pinyin = []string{"hua", "xin", "tian", "long", "feng", "ming", "da", "jia", "kang", "rui",
	"tai", "yuan", "zhi", "hong", "an", "bao", "chen", "de", "fu", "guang", "hai", "jin", "lan", "mei"}

func syllables(rng *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(pinyin[rng.IntN(len(pinyin))])
	}
	return b.String()
}

var entityWords = []string{"华信", "天成", "龙腾", "丰源", "明德", "嘉禾", "康宁", "瑞丰", "泰和", "远航", "志诚", "宏图"}
var entityKinds = []string{"科技有限公司", "网络科技有限公司", "信息技术有限公司", "文化传媒有限公司", "商贸有限公司"}

func entityName(rng *rand.Rand, prov rune) string {
	return string(prov) + entityWords[rng.IntN(len(entityWords))] + entityKinds[rng.IntN(len(entityKinds))]
}

func digits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}

func uniqueDigits(rng *rand.Rand, used map[string]bool, n int) string {
	for {
		d := fmt.Sprint(1+rng.IntN(9)) + digits(rng, n-1)
		if !used[d] {
			used[d] = true
			return d
		}
	}
}

// mobilePrefixes are long-allocated mobile segments (China Mobile and
// Unicom), valid under every numbering plan revision.
var mobilePrefixes = []string{"138", "139", "135", "136", "150", "186"}

func uniqueMobile(rng *rand.Rand, used map[string]bool) string {
	for {
		m := mobilePrefixes[rng.IntN(len(mobilePrefixes))] + digits(rng, 8)
		if !used[m] {
			used[m] = true
			return m
		}
	}
}

// Tally counts sites per state, and slow and hanging sites.
type Tally struct {
	States     map[State]int
	Slow, Hang int
	Scripted   int
}

// Tally counts the farm's sites.
func (f *Farm) Tally() Tally {
	t := Tally{States: map[State]int{}}
	for _, s := range f.Sites {
		t.States[s.State]++
		if s.Delay > 0 {
			t.Slow++
		}
		if s.Hang {
			t.Hang++
		}
		if s.Scripted {
			t.Scripted++
		}
	}
	return t
}

// SortedCodes returns codes sorted, for comparisons and printing.
func SortedCodes(codes []string) []string {
	out := slices.Clone(codes)
	slices.Sort(out)
	return out
}
