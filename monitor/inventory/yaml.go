package inventory

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML reads a YAML inventory: a list of records with the CSV's field
// names as keys. Lists (ip_ranges, contacts, tags) may be YAML lists or a
// ';'-separated string as in the CSV; tags may also be a mapping.
func parseYAML(name string, data []byte, b *builder) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(stripBOM(data), &doc); err != nil {
		msg := err.Error()
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			return fmt.Errorf("inventory %s:%s: YAML syntax: %s", name, m[1], m[2])
		}
		return fmt.Errorf("inventory %s: YAML syntax: %s", name, strings.TrimPrefix(msg, "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil // empty file: no sites
	}
	root := doc.Content[0]
	if isNull(root) {
		return nil
	}
	if root.Kind != yaml.SequenceNode {
		return fmt.Errorf("inventory %s:%d: want a list of sites (each item \"- domain: ...\"), got %s", name, root.Line, kindName(root))
	}
	for _, item := range root.Content {
		if item.Kind == yaml.AliasNode && item.Alias != nil {
			item = item.Alias
		}
		b.add(yamlRecord(item))
	}
	return nil
}

func yamlRecord(n *yaml.Node) *record {
	rec := &record{line: n.Line, fieldLines: map[string]int{}}
	problem := func(line int, field, format string, args ...any) {
		rec.problems = append(rec.problems, LintError{Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if n.Kind != yaml.MappingNode {
		problem(n.Line, "", "want a site (a mapping of domain, icp, status, ...), got %s", kindName(n))
		rec.notRecord = true
		return rec
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		field := k.Value
		idx := slices.Index(fields, field)
		if idx < 0 {
			problem(k.Line, clip(field), "unknown key (known: %s)", strings.Join(fields, ", "))
			continue
		}
		if _, dup := rec.fieldLines[field]; dup {
			problem(k.Line, field, "given twice (first at line %d)", rec.fieldLines[field])
			continue
		}
		rec.fieldLines[field] = v.Line
		if isNull(v) {
			continue
		}
		switch field {
		case FieldIPRanges, FieldContacts, FieldTags:
			items, ok := yamlList(v, field == FieldTags, field == FieldContacts)
			if !ok {
				problem(v.Line, field, "want a list or a ';'-separated string, got %s", kindName(v))
				continue
			}
			if v.Kind != yaml.ScalarNode {
				rec.setItemLines(field, v)
			}
			if all := strings.Join(items, ";"); len(all) > MaxCellBytes {
				rec.checkCellSize(v.Line, field, all)
				continue
			}
			switch field {
			case FieldIPRanges:
				rec.ipRanges = items
			case FieldContacts:
				rec.contacts = items
			case FieldTags:
				rec.tags = items
			}
		default:
			if v.Kind != yaml.ScalarNode {
				problem(v.Line, field, "want a single value, got %s", kindName(v))
				continue
			}
			rec.set(idx, rec.checkCellSize(v.Line, field, strings.TrimSpace(v.Value)))
		}
	}
	return rec
}

// setItemLines records the line of each item of a list or mapping field,
// in the order yamlList returns them (it drops empty scalars).
func (r *record) setItemLines(field string, v *yaml.Node) {
	if r.itemLines == nil {
		r.itemLines = map[string][]int{}
	}
	var lines []int
	if v.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(v.Content); i += 2 {
			lines = append(lines, v.Content[i].Line)
		}
	} else {
		for _, item := range v.Content {
			if item.Kind == yaml.ScalarNode && strings.TrimSpace(item.Value) == "" {
				continue
			}
			lines = append(lines, item.Line)
		}
	}
	r.itemLines[field] = lines
}

// yamlList reads a list field: a sequence of strings, a ';'-separated
// string, a mapping for tags ({customer: acme}), and, for contacts, items
// that are mappings {role: ..., phone: ...}.
func yamlList(v *yaml.Node, mapOK, contactMapOK bool) ([]string, bool) {
	switch v.Kind {
	case yaml.ScalarNode:
		return splitList(v.Value), true
	case yaml.MappingNode:
		if !mapOK {
			return nil, false
		}
		var out []string
		for i := 0; i+1 < len(v.Content); i += 2 {
			if v.Content[i+1].Kind != yaml.ScalarNode {
				return nil, false
			}
			out = append(out, v.Content[i].Value+"="+v.Content[i+1].Value)
		}
		return out, true
	case yaml.SequenceNode:
		var out []string
		for _, item := range v.Content {
			switch {
			case item.Kind == yaml.ScalarNode:
				if s := strings.TrimSpace(item.Value); s != "" {
					out = append(out, s)
				}
			case item.Kind == yaml.MappingNode && contactMapOK:
				c, ok := yamlContact(item)
				if !ok {
					return nil, false
				}
				out = append(out, c)
			default:
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}

// yamlContact reads a contact written as a mapping: {role: site_head,
// phone: "138..."} or the shorter {site_head: "138..."} (which is also what
// "- site_head: 138..." means in YAML).
func yamlContact(n *yaml.Node) (string, bool) {
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return "", false
		}
	}
	var role, phone string
	if len(n.Content) == 2 && n.Content[0].Value != "role" && n.Content[0].Value != "phone" {
		role, phone = n.Content[0].Value, n.Content[1].Value
	} else {
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch n.Content[i].Value {
			case "role":
				role = n.Content[i+1].Value
			case "phone":
				phone = n.Content[i+1].Value
			default:
				return "", false
			}
		}
	}
	return role + ":" + phone, true
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "something else"
}
