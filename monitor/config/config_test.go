package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type wantErr struct {
	line int
	key  string
	msg  string // substring of Msg
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []wantErr
	}{
		{"bad cron", "schedules:\n  footer: \"@every 6h\"\n  dns: \"*/61 * * * *\"\n",
			[]wantErr{{3, "schedules.dns", `bad cron spec "*/61 * * * *"`}}},
		{"too frequent schedule", "schedules:\n  shell: \"@every 500ms\"\n",
			[]wantErr{{2, "schedules.shell", "shorter than a second"}}},
		{"empty schedule", "schedules:\n  contact: \"\"\n",
			[]wantErr{{2, "schedules.contact", `write "off"`}}},
		{"unknown top key with suggestion", "listen: 127.0.0.1:9470\nlistn: 127.0.0.1:1\n",
			[]wantErr{{2, "listn", `unknown key (did you mean "listen"?)`}}},
		{"unknown nested key", "dns:\n  timeout: 3s\n  servers: [1.1.1.1:53]\n",
			[]wantErr{{3, "dns.servers", "unknown key"}}},
		{"duration without unit", "dns:\n  timeout: 3\n",
			[]wantErr{{2, "dns.timeout", `bad duration "3"`}}},
		{"duration in days", "lifecycle:\n  rectification_period: 10d\n",
			[]wantErr{{2, "lifecycle.rectification_period", "no day unit"}}},
		{"zero duration", "retention:\n  history: 0s\n",
			[]wantErr{{2, "retention.history", "more than 0"}}},
		{"retry backwards", "notices:\n  retry_first: 1h\n  retry_max: 1m\n",
			[]wantErr{{3, "notices.retry_max", "at least notices.retry_first (1h0m0s)"}}},
		{"retry and held age zero", "notices:\n  retry_first: 0s\n  held_max_age: 0s\n",
			[]wantErr{{2, "notices.retry_first", "more than 0"}, {3, "notices.held_max_age", "more than 0"}}},
		{"postgres without a variable name", "storage:\n  driver: postgres\n  dsn_env: \"\"\n",
			[]wantErr{{3, "storage.dsn_env", "must not be empty"}}},
		{"postgres with a connection string for a name", "storage:\n  driver: postgres\n  dsn_env: postgres://u:pw@db/x\n",
			[]wantErr{{3, "storage.dsn_env", "NAME of the variable"}}},
		{"unknown driver", "storage:\n  driver: mysql\n",
			[]wantErr{{2, "storage.driver", `unknown driver "mysql"`}}},
		{"thresholds", "lifecycle:\n  failure_threshold: 0\n  success_threshold: -1\n",
			[]wantErr{{2, "lifecycle.failure_threshold", "at least 1"}, {3, "lifecycle.success_threshold", "at least 1"}}},
		{"threshold not a number", "lifecycle:\n  failure_threshold: two\n",
			[]wantErr{{2, "lifecycle.failure_threshold", "expected a whole number"}}},
		{"resolvers", "dns:\n  resolvers:\n    - 223.5.5.5:53\n    - dns.google:53\n    - 1.2.3.4\n    - 1.2.3.4:99999\n",
			[]wantErr{{4, "dns.resolvers[1]", "want an IP address"}, {5, "dns.resolvers[2]", "want host:port"}, {6, "dns.resolvers[3]", "bad port"}}},
		{"no resolvers", "dns:\n  resolvers: []\n",
			[]wantErr{{2, "dns.resolvers", "at least one resolver"}}},
		{"resolvers not a list", "dns:\n  resolvers: 223.5.5.5:53\n",
			[]wantErr{{2, "dns.resolvers", "expected a list"}}},
		{"listen", "listen: 9470\n",
			[]wantErr{{1, "listen", "want host:port"}}},
		{"listen is a list", "listen: [a, b]\n",
			[]wantErr{{1, "listen", "expected a single value"}}},
		{"provider ranges", "provider:\n  ip_ranges:\n    - 203.0.113.0/24\n    - 203.0.113.20-203.0.113.10\n",
			[]wantErr{{4, "provider.ip_ranges[1]", "ends before it starts"}}},
		{"ops channel", "provider:\n  ops_channel:\n    kind: email\n    url: ftp://ops.example.cn/x\n",
			[]wantErr{{3, "provider.ops_channel.kind", `got "email"`}, {4, "provider.ops_channel.url", `scheme "ftp"`}}},
		{"wecom ops channel without key", "provider:\n  ops_channel:\n    kind: wecom\n    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send\n",
			[]wantErr{{4, "provider.ops_channel.url", "wecom: URL https://qyapi.weixin.qq.com/cgi-bin/webhook/send has no key"}}},
		{"wecom ops channel with a secret", "provider:\n  ops_channel:\n    kind: wecom\n    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K3Y\n    secret_env: OPS_SECRET\n",
			[]wantErr{{5, "provider.ops_channel.secret_env", "no signing secret"}}},
		{"dingtalk ops channel without token", "provider:\n  ops_channel: {kind: dingtalk, url: \"https://oapi.dingtalk.com/robot/send\"}\n",
			[]wantErr{{2, "provider.ops_channel.url", "no access_token"}}},
		{"feishu ops channel not a bot", "provider:\n  ops_channel:\n    kind: feishu\n    url: https://open.feishu.cn/open-apis/bot/v2/\n",
			[]wantErr{{4, "provider.ops_channel.url", "not a custom bot address"}}},
		{"slack ops channel with a secret", "provider:\n  ops_channel:\n    kind: slack\n    url: https://hooks.slack.com/services/T/B/X\n    secret_env: OPS_SECRET\n",
			[]wantErr{{5, "provider.ops_channel.secret_env", "no signing secret"}}},
		{"webhook ops channel without a secret", "provider:\n  ops_channel:\n    kind: webhook\n    url: https://ops.example.cn/hook\n",
			[]wantErr{{3, "provider.ops_channel.secret_env", "signing secret is required"}}},
		{"ops channel without url", "provider:\n  ops_channel: {kind: dingtalk}\n",
			[]wantErr{{2, "provider.ops_channel.url", "must not be empty"}}},
		{"phone api without token", "phone_api:\n  url: https://p.example.cn/\n  token_env: \"\"\n",
			[]wantErr{{3, "phone_api.token_env", "must not be empty"}}},
		{"rate", "phone_api:\n  rate_per_second: 0\n",
			[]wantErr{{2, "phone_api.rate_per_second", "more than 0"}}},
		{"quiet hours single digit", "notices:\n  quiet_hours: \"22:00-8:00\"\n",
			[]wantErr{{2, "notices.quiet_hours", "bad quiet hours"}}},
		{"quiet hours out of range", "notices:\n  quiet_hours: \"25:00-08:00\"\n",
			[]wantErr{{2, "notices.quiet_hours", "bad quiet hours"}}},
		{"quiet hours empty window", "notices:\n  quiet_hours: \"08:00-08:00\"\n",
			[]wantErr{{2, "notices.quiet_hours", "start equals end"}}},
		{"timezone", "notices:\n  timezone: Mars/Olympus\n",
			[]wantErr{{2, "notices.timezone", "unknown time zone"}}},
		{"language", "notices:\n  language: fr\n",
			[]wantErr{{2, "notices.language", "want zh or en"}}},
		{"log", "log:\n  format: xml\n  level: loud\n",
			[]wantErr{{2, "log.format", "want text or json"}, {3, "log.level", "want debug"}}},
		{"inventory extension", "inventory:\n  path: sites.xlsx\n",
			[]wantErr{{2, "inventory.path", "want .csv, .yaml or .yml"}}},
		{"max body", "http:\n  max_body: 4 parsecs\n  max_redirects: 50\n",
			[]wantErr{{2, "http.max_body", "bad size"}, {3, "http.max_redirects", "between 0 and 20"}}},
		{"bool", "allow_private: yes\n",
			[]wantErr{{1, "allow_private", "expected true or false"}}},
		{"rectification overrides", "lifecycle:\n  rectification_periods:\n    footer_link_missing: 0s\n    link_missing: 24h\n",
			[]wantErr{{3, "lifecycle.rectification_periods.footer_link_missing", "more than 0"}, {4, "lifecycle.rectification_periods.link_missing", "not a finding code"}}},
		{"misspelt code", "lifecycle:\n  rectification_periods: {footer_link_obsolet: 168h}\n",
			[]wantErr{{2, "lifecycle.rectification_periods.footer_link_obsolet", `not a finding code (did you mean "footer_link_obsolete"?)`}}},
		{"code of a known check that does not exist", "lifecycle:\n  rectification_periods:\n    shell_gone_fishing: 24h\n",
			[]wantErr{{3, "lifecycle.rectification_periods.shell_gone_fishing", "docs/checks.md"}}},
		{"storm", "lifecycle:\n  storm:\n    share: 1.5\n    min_sites: 0\n",
			[]wantErr{{3, "lifecycle.storm.share", "(0, 1]"}, {4, "lifecycle.storm.min_sites", "at least 1"}}},
		{"section not a mapping", "dns: 223.5.5.5:53\n",
			[]wantErr{{1, "dns", "expected a mapping"}}},
		{"yaml syntax", "listen: 127.0.0.1:9470\ndns:\n  timeout: 3s\n resolvers: []\n",
			[]wantErr{{3, "", "YAML syntax"}}},
		{"duplicate key", "listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n",
			[]wantErr{{2, "listen", "duplicate key (first at line 1)"}}},
		{"cron step wider than hours", "schedules:\n  shell: \"0 */24 * * *\"\n",
			[]wantErr{{2, "schedules.shell", "hour field"}}},
		{"many at once, in file order", "log:\n  level: loud\nlisten: nope\nschedules:\n  dns: bad\n",
			[]wantErr{{2, "log.level", "want debug"}, {3, "listen", "host:port"}, {5, "schedules.dns", "bad cron spec"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "beianwatch.yaml", tt.yaml)
			c, err := Load(p)
			if err == nil {
				t.Fatalf("Load succeeded, want errors %v (config %+v)", tt.want, c)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T %v is not Errors", err, err)
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for i, w := range tt.want {
				e := errs[i]
				if e.File != p || e.Line != w.line || e.Key != w.key || !strings.Contains(e.Msg, w.msg) {
					t.Errorf("error %d = {line %d, key %q, msg %q}, want {line %d, key %q, msg containing %q}",
						i, e.Line, e.Key, e.Msg, w.line, w.key, w.msg)
				}
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	p := writeFile(t, "beianwatch.yaml", "schedules:\n  dns: \"*/61 * * * *\"\nlisten: x\n")
	_, err := Load(p)
	if err == nil {
		t.Fatal("want an error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one line per problem, got %q", err.Error())
	}
	if want := p + `:2: schedules.dns: bad cron spec "*/61 * * * *": `; !strings.HasPrefix(lines[0], want) {
		t.Errorf("first line %q, want prefix %q", lines[0], want)
	}
	if want := p + `:3: listen: want host:port, got "x"`; lines[1] != want {
		t.Errorf("second line %q, want %q", lines[1], want)
	}
}

// A secret pasted where its variable name belongs must not be echoed back
// into logs by the error message.
func TestSecretNotEchoed(t *testing.T) {
	const secret = "sk-live-9f8e7d6c5b4a"
	p := writeFile(t, "b.yaml", "api:\n  token_env: "+secret+"\nprovider:\n  ops_channel:\n    kind: webhook\n    url: https://ops.example.cn/hook\n    secret_env: "+secret+"\n")
	_, err := Load(p)
	if err == nil {
		t.Fatal("want errors for secret-looking env names")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error echoes the secret: %v", err)
	}
	if n := len(err.(Errors)); n != 2 {
		t.Errorf("want 2 errors, got %d: %v", n, err)
	}
}

func TestLoadUnreadable(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("want a not-exist error, got %v", err)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if c.Listen != "127.0.0.1:9470" || c.Storage.Driver != "sqlite" || c.Storage.Path != "data/beianwatch.db" ||
		c.Inventory.Path != "" {
		t.Errorf("defaults: listen %q storage %+v inventory %+v", c.Listen, c.Storage, c.Inventory)
	}
	if c.File != "" {
		t.Errorf("File = %q, want empty for the defaults", c.File)
	}
	if c.Lifecycle.FailureThreshold != 2 || c.Lifecycle.RectificationPeriod != 240*time.Hour ||
		c.Lifecycle.Storm.Share != 0.5 || c.Lifecycle.Storm.MinSites != 20 || c.Lifecycle.Storm.Window != 15*time.Minute {
		t.Errorf("lifecycle defaults: %+v", c.Lifecycle)
	}
	if c.HTTP.MaxBody != 4<<20 || c.HTTP.MaxRedirects != 5 {
		t.Errorf("http defaults: %+v", c.HTTP)
	}
	if c.Notices.Location == nil || c.Notices.Location.String() != "Asia/Shanghai" || c.Notices.QuietHours.String() != "22:00-08:00" ||
		c.Notices.MaxAttempts != 10 || c.Notices.RetryFirst != time.Minute || c.Notices.RetryMax != 6*time.Hour ||
		c.Notices.HeldMaxAge != 192*time.Hour {
		t.Errorf("notices defaults: %+v", c.Notices)
	}
	for _, name := range []string{"footer", "shell", "dns", "contact"} {
		s, ok := c.Schedules.ByCheck(name)
		if !ok || s.Off() {
			t.Errorf("schedule %s: %+v %v", name, s, ok)
		}
	}
	// Two calls must not share maps or slices.
	c.DNS.Resolvers[0] = "192.0.2.1:53"
	if Default().DNS.Resolvers[0] == "192.0.2.1:53" {
		t.Error("Default shares state between calls")
	}
}

func TestExampleLoads(t *testing.T) {
	p := filepath.Join("..", "..", "configs", "beianwatch.example.yaml")
	c, err := Load(p)
	if err != nil {
		t.Fatalf("example does not load:\n%v", err)
	}
	if want := filepath.Join("..", "..", "configs", "sites.example.csv"); c.Inventory.Path != want {
		t.Errorf("inventory path %q, want %q (relative to the config file)", c.Inventory.Path, want)
	}
	if want := filepath.Join("..", "..", "data", "beianwatch.db"); c.Storage.Path != want {
		t.Errorf("storage path %q, want %q", c.Storage.Path, want)
	}
	if len(c.Provider.Ranges) != 3 || c.Provider.OpsChannel.Kind != "webhook" {
		t.Errorf("provider: %+v", c.Provider)
	}
	if got := c.Lifecycle.PeriodFor("dns_resolving_while_pending"); got != 24*time.Hour {
		t.Errorf("override period = %v", got)
	}
	if got := c.Lifecycle.PeriodFor("footer_icp_missing"); got != 240*time.Hour {
		t.Errorf("default period = %v", got)
	}

	// The example documents every key: each leaf of Config must be set in it.
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	d := newDecoder(p)
	d.decodeBytes(data, &Config{})
	for _, key := range leafKeys(reflect.TypeOf(Config{}), "") {
		if _, ok := d.lines[key]; !ok {
			t.Errorf("example does not show key %s", key)
		}
	}
}

// leafKeys lists the key paths of every configurable value.
func leafKeys(t reflect.Type, path string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		key := join(path, tag)
		ft := f.Type
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(reflect.TypeOf((*scalar)(nil)).Elem()) {
			keys = append(keys, leafKeys(ft, key)...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

func TestOverlayAndPaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bw.yaml")
	content := "listen: \"[::1]:9000\"\ninventory:\n  path: sites.yaml\nnotices:\n  quiet_hours: \"\"\n  templates_dir: /abs/templates\nschedules:\n  contact: \"off\"\nlifecycle:\n  storm: {share: 0.25}\n"
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != p || c.Listen != "[::1]:9000" {
		t.Errorf("file %q listen %q", c.File, c.Listen)
	}
	if want := filepath.Join(dir, "sites.yaml"); c.Inventory.Path != want {
		t.Errorf("inventory path %q, want %q", c.Inventory.Path, want)
	}
	// Not set in the file: stays relative to the working directory.
	if c.Storage.Path != "data/beianwatch.db" {
		t.Errorf("storage path %q", c.Storage.Path)
	}
	if c.Notices.TemplatesDir != "/abs/templates" {
		t.Errorf("templates dir %q", c.Notices.TemplatesDir)
	}
	if c.Notices.QuietHours.Set {
		t.Errorf("quiet hours %v, want none", c.Notices.QuietHours)
	}
	if !c.Schedules.Contact.Off() || !c.Schedules.Contact.Next(time.Now()).IsZero() {
		t.Errorf("contact schedule should be off: %+v", c.Schedules.Contact)
	}
	if c.Schedules.Footer.Off() {
		t.Error("footer schedule lost its default")
	}
	// Other keys of a partly written section keep their defaults.
	if c.Lifecycle.Storm.Share != 0.25 || c.Lifecycle.Storm.MinSites != 20 {
		t.Errorf("storm %+v", c.Lifecycle.Storm)
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	c, err := Load(writeFile(t, "empty.yaml", "# nothing\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != Default().Listen {
		t.Errorf("listen %q", c.Listen)
	}
}

func TestSecret(t *testing.T) {
	c := Default()
	t.Setenv("BW_TEST_SECRET", "s3cr3t")
	t.Setenv("BW_TEST_EMPTY", "")
	if v, err := c.Secret("BW_TEST_SECRET"); err != nil || v != "s3cr3t" {
		t.Errorf("Secret = %q, %v", v, err)
	}
	if _, err := c.Secret("BW_TEST_EMPTY"); !errors.Is(err, ErrSecretUnset) || !strings.Contains(err.Error(), "BW_TEST_EMPTY") {
		t.Errorf("empty variable: %v", err)
	}
	if _, err := c.Secret("BW_TEST_UNSET_XYZ"); !errors.Is(err, ErrSecretUnset) {
		t.Errorf("unset variable: %v", err)
	}
	if _, err := c.Secret("not a name"); err == nil {
		t.Error("invalid name accepted")
	}
	refs := c.SecretRefs()
	if len(refs) != 1 || refs[0] != (SecretRef{Key: "api.token_env", Env: "BEIANWATCH_API_TOKEN"}) {
		t.Errorf("SecretRefs of defaults = %+v (phone token only counts when a phone API is set)", refs)
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://oapi.dingtalk.com/robot/send?access_token=abc": "https://oapi.dingtalk.com/…",
		"https://hooks.example.cn":                              "https://hooks.example.cn",
		"https://user:pw@hooks.example.cn/":                     "https://hooks.example.cn/…",
		"::not a url":                                           "(unparsable URL)",
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQuietHours(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	var q QuietHours
	if err := q.parseScalar("22:00-08:00"); err != nil {
		t.Fatal(err)
	}
	at := func(h, m int) time.Time { return time.Date(2026, 3, 1, h, m, 0, 0, shanghai) }
	tests := []struct {
		t     time.Time
		quiet bool
		until time.Time
	}{
		{at(21, 59), false, at(21, 59)},
		{at(22, 0), true, time.Date(2026, 3, 2, 8, 0, 0, 0, shanghai)},
		{at(3, 30), true, at(8, 0)},
		{at(8, 0), false, at(8, 0)},
		// 14:30 UTC is 22:30 in Shanghai: quiet.
		{time.Date(2026, 3, 1, 14, 30, 0, 0, time.UTC), true, time.Date(2026, 3, 2, 8, 0, 0, 0, shanghai)},
	}
	for _, tt := range tests {
		if got := q.Contains(tt.t, shanghai); got != tt.quiet {
			t.Errorf("Contains(%v) = %v", tt.t, got)
		}
		if got := q.Until(tt.t, shanghai); !got.Equal(tt.until) {
			t.Errorf("Until(%v) = %v, want %v", tt.t, got, tt.until)
		}
	}
	var day QuietHours
	if err := day.parseScalar("12:00-13:30"); err != nil {
		t.Fatal(err)
	}
	if !day.Contains(at(13, 29), shanghai) || day.Contains(at(13, 30), shanghai) || day.Contains(at(11, 59), shanghai) {
		t.Error("same-day window misjudged")
	}
}

func TestByteSize(t *testing.T) {
	tests := map[string]int64{"4MiB": 4 << 20, "512 KiB": 512 << 10, "1000": 1000, "2MB": 2000000, "1GiB": 1 << 30, "10B": 10}
	for in, want := range tests {
		var b ByteSize
		if err := b.parseScalar(in); err != nil || int64(b) != want {
			t.Errorf("parse %q = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "4 MiBs", "1.5MiB", "99999999999GiB"} {
		var b ByteSize
		if err := b.parseScalar(bad); err == nil {
			t.Errorf("parse %q accepted as %d", bad, b)
		}
	}
}

func TestSchedule(t *testing.T) {
	from := time.Date(2026, 3, 1, 10, 3, 0, 0, time.UTC)
	tests := []struct {
		spec string
		next time.Time // zero: the spec is rejected
	}{
		{"*/10 * * * *", time.Date(2026, 3, 1, 10, 10, 0, 0, time.UTC)},
		{"@every 6h", from.Add(6 * time.Hour)},
		{"@daily", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
		{"CRON_TZ=Asia/Shanghai 0 3 * * *", time.Date(2026, 3, 1, 19, 0, 0, 0, time.UTC)},
		{"0 9 * * mon", time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)},
		{"*/59 * * * *", time.Date(2026, 3, 1, 10, 59, 0, 0, time.UTC)},
		{"*/60 * * * *", time.Time{}},
		{"0 0 */32 * *", time.Time{}},
		{"* * * *", time.Time{}},
		{"@fortnightly", time.Time{}},
		{"@every 500ms", time.Time{}},
	}
	for _, tt := range tests {
		var s Schedule
		err := s.parseScalar(tt.spec)
		if tt.next.IsZero() {
			if err == nil {
				t.Errorf("%q accepted", tt.spec)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.spec, err)
			continue
		}
		if got := s.Next(from); !got.Equal(tt.next) {
			t.Errorf("%q: next after %v = %v, want %v", tt.spec, from, got, tt.next)
		}
	}
}

// TestEntityCodePeriodAndFirstRunWithin: the empty-shell entity's finding
// takes a rectification period of its own; first_run_within is a positive
// duration, 5m by default.
func TestEntityCodePeriodAndFirstRunWithin(t *testing.T) {
	c, err := Parse("t.yaml", []byte("lifecycle:\n  rectification_periods:\n    entity_empty_shell: 720h\nschedules:\n  first_run_within: 90s\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Lifecycle.PeriodFor("entity_empty_shell") != 720*time.Hour || c.Schedules.FirstRunWithin != 90*time.Second {
		t.Errorf("period %v, first_run_within %v", c.Lifecycle.PeriodFor("entity_empty_shell"), c.Schedules.FirstRunWithin)
	}
	if Default().Schedules.FirstRunWithin != 5*time.Minute {
		t.Errorf("default first_run_within %v, want 5m", Default().Schedules.FirstRunWithin)
	}
	if _, err := Parse("t.yaml", []byte("schedules:\n  first_run_within: 0s\n"), ""); err == nil || !strings.Contains(err.Error(), "schedules.first_run_within") {
		t.Errorf("first_run_within 0s: %v", err)
	}
}
