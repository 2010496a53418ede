package config

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Error is one problem in a configuration file. Line is 0 when the problem
// is not tied to a line (a value inherited from the defaults, an unreadable
// document).
type Error struct {
	File string
	Line int
	Key  string // dotted key path, e.g. "schedules.dns" or "dns.resolvers[1]"
	Msg  string
}

func (e Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one configuration, in file order.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// decoder walks yaml.Nodes into the Config by its yaml tags, recording the
// line of every key it sets so that validation can point at it.
type decoder struct {
	file  string
	errs  Errors
	lines map[string]int // key path -> line of its value
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: map[string]int{}}
}

func (d *decoder) errAt(line int, key, format string, args ...any) {
	d.errs = append(d.errs, Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// errf reports a problem with a key, at the line where the file set it or,
// when the file did not set that key, the nearest enclosing key it did set
// (an ops_channel written without its url points at ops_channel).
func (d *decoder) errf(key, format string, args ...any) {
	d.errAt(d.lineOf(key), key, format, args...)
}

func (d *decoder) lineOf(key string) int {
	for key != "" {
		if line, ok := d.lines[key]; ok {
			return line
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
	return 0
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (d *decoder) decodeBytes(data []byte, c *Config) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml reports "yaml: line N: msg"; keep our file:line form.
		msg := err.Error()
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			d.errAt(line, "", "YAML syntax: %s", m[2])
		} else {
			d.errAt(0, "", "YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))
		}
		return
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return // empty file: defaults only
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return
	}
	d.decode(root, "", reflect.ValueOf(c).Elem())
}

var durationType = reflect.TypeOf(time.Duration(0))

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return scalarName(n.Value)
	}
	return "something else"
}

// maxQuoted is the longest value quoted back in an error. A value in the
// wrong place is often a webhook URL or a token pasted where its section
// belongs; longer values are described, not shown.
const maxQuoted = 16

func scalarName(v string) string {
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" {
		return "a URL (" + RedactURL(v) + ")"
	}
	if utf8.RuneCountInString(v) > maxQuoted {
		return fmt.Sprintf("a single value of %d characters (not shown: it may be a secret)", utf8.RuneCountInString(v))
	}
	return fmt.Sprintf("%q", v)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// decode sets v from n. A null value (a key with nothing after it) leaves
// the default in place.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if path != "" {
		d.lines[path] = n.Line
	}
	if isNull(n) {
		return
	}
	if s, ok := v.Addr().Interface().(scalar); ok {
		if n.Kind != yaml.ScalarNode {
			d.errAt(n.Line, path, "expected a single value, got %s", kindName(n))
			return
		}
		if err := s.parseScalar(n.Value); err != nil {
			d.errAt(n.Line, path, "%v", err)
		}
		return
	}
	if v.Type() == durationType {
		if n.Kind != yaml.ScalarNode {
			d.errAt(n.Line, path, "expected a duration such as \"3s\" or \"240h\", got %s", kindName(n))
			return
		}
		dur, err := time.ParseDuration(strings.TrimSpace(n.Value))
		if err != nil {
			hint := ""
			if strings.HasSuffix(strings.TrimSpace(n.Value), "d") {
				hint = " (Go durations have no day unit: write 240h for 10 days)"
			}
			d.errAt(n.Line, path, "bad duration %q: want a Go duration such as \"3s\", \"15m\" or \"240h\"%s", n.Value, hint)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errAt(n.Line, path, "expected a single value, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errAt(n.Line, path, "expected true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 10, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errAt(n.Line, path, "expected a whole number, got %s", kindName(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errAt(n.Line, path, "expected a number, got %s", kindName(n))
			return
		}
		v.SetFloat(f)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errAt(n.Line, path, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.errAt(n.Line, path, "expected a mapping, got %s", kindName(n))
			return
		}
		// A map in the file replaces the default one: merging would make a
		// removed override impossible to express.
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if d.duplicate(seen, k, path) {
				continue
			}
			key := join(path, k.Value)
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, key, elem)
			m.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		v.Set(m)
	default:
		// Only reachable if a field of an unsupported type is added to Config.
		d.errAt(n.Line, path, "internal: cannot decode into %s", v.Type())
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errAt(n.Line, path, "expected a mapping, got %s", kindName(n))
		return
	}
	fields := map[string]int{}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("yaml"); tag != "" && tag != "-" {
			fields[tag] = i
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if d.duplicate(seen, k, path) {
			continue
		}
		if k.Value == "<<" && k.Tag == "!!merge" {
			// A YAML merge key ("<<: *defaults") folds a mapping in.
			d.decode(val, path, v)
			continue
		}
		idx, ok := fields[k.Value]
		if !ok {
			d.errAt(k.Line, join(path, k.Value), "unknown key%s", suggest(k.Value, fields))
			continue
		}
		d.decode(val, join(path, k.Value), v.Field(idx))
	}
}

// duplicate reports a key written twice in one mapping: the parser keeps
// both and one would silently win.
func (d *decoder) duplicate(seen map[string]int, k *yaml.Node, path string) bool {
	if first, ok := seen[k.Value]; ok {
		d.errAt(k.Line, join(path, k.Value), "duplicate key (first at line %d)", first)
		return true
	}
	seen[k.Value] = k.Line
	return false
}

// suggest names the closest known key when the unknown one looks like a typo.
func suggest(key string, fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	best, bestDist := "", 3
	for _, name := range names {
		if dist := editDistance(key, name); dist < bestDist {
			best, bestDist = name, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return fmt.Sprintf(" (known: %s)", strings.Join(names, ", "))
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
