package farm

import (
	"fmt"

	"github.com/beianwatch/beianwatch/checks"
)

// groupEntities gives the farm multi-site entities, as a provider's
// inventory has (one customer, several filed sites): every shell site
// (placeholder, unresolvable, off-provider) joins the entity of a
// compliant site, so that the entity stays alive, except one pair, an
// unresolvable site and a placeholder, which form an entity of their own:
// an empty-shell entity (空壳主体), the one the demo shows. Sites keep
// their states; only their filing numbers and entity names change.
func (f *Farm) groupEntities() {
	var compliant []*Site
	for _, s := range f.Sites {
		if s.State == CompliantUTF8 || s.State == CompliantGBK {
			compliant = append(compliant, s)
		}
	}
	next := map[string]int{} // entity number -> last suffix given
	join := func(s, owner *Site) {
		key := owner.ICP.Entity().String()
		if next[key] == 0 {
			n := 1
			fmt.Sscan(owner.ICP.Suffix, &n) // "1", "2", "3": the farm's suffixes are digits
			next[key] = n
		}
		next[key]++
		s.ICP = checks.ICPNumber{Province: owner.ICP.Province, Digits: owner.ICP.Digits, Suffix: fmt.Sprint(next[key])}
		s.Entity = owner.Entity
		if s.PSB != nil {
			// The PSB number's province code follows the ICP province.
			s.PSB = &checks.PSBNumber{Province: owner.ICP.Province, Code: checks.ProvinceCode(owner.ICP.Province) + s.PSB.Code[2:]}
		}
	}
	var unresolvable, placeholder *Site
	for _, s := range f.Sites {
		switch {
		case s.State == Unresolvable && unresolvable == nil:
			unresolvable = s
		case s.State == Placeholder && placeholder == nil:
			placeholder = s
		}
	}
	if unresolvable != nil && placeholder != nil {
		join(placeholder, unresolvable)
		f.EmptyShellEntity = unresolvable.ICP.Entity().String()
	}
	for _, s := range f.Sites {
		if f.EmptyShellEntity != "" && (s == unresolvable || s == placeholder) {
			continue
		}
		switch s.State {
		case Placeholder, Unresolvable, OffProvider:
			if len(compliant) == 0 {
				return
			}
			join(s, compliant[0])
			compliant = compliant[1:]
		}
	}
}
