package checks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlaceholderFixtures(t *testing.T) {
	d, err := DefaultPlaceholderDetector()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file      string
		kind      string // "" = not a placeholder
		signature string
		undecided string // substring of the reason when it cannot be judged
	}{
		// Default pages as the servers ship them.
		{file: "nginx-debian.html", kind: PlaceholderDefaultPage, signature: "nginx-welcome"},
		{file: "apache2-debian.html", kind: PlaceholderDefaultPage, signature: "apache-debian"},
		{file: "apache-httpd-itworks.html", kind: PlaceholderDefaultPage, signature: "apache-it-works"},
		{file: "tomcat10-debian.html", kind: PlaceholderDefaultPage, signature: "tomcat-default"},
		{file: "lighttpd-debian.html", kind: PlaceholderDefaultPage, signature: "lighttpd-placeholder"},
		{file: "iis10-iisstart.html", kind: PlaceholderDefaultPage, signature: "iis-start"},
		{file: "bt-default.html", kind: PlaceholderDefaultPage, signature: "baota-site-created"},
		{file: "bt-stopped.html", kind: PlaceholderSuspended, signature: "baota-stopped"},
		{file: "suspended-cpanel.html", kind: PlaceholderSuspended, signature: "suspended-en"},
		{file: "forsale-zh.html", kind: PlaceholderForSale, signature: "for-sale-zh"},
		{file: "forsale-en-parked.html", kind: PlaceholderForSale, signature: "for-sale-en"},
		{file: "construction-zh.html", kind: PlaceholderUnderConstruction, signature: "under-construction-zh"},
		// Almost no content: the measure decides.
		{file: "hello-world.html", kind: PlaceholderAlmostEmpty},
		{file: "blank-with-icp.html", kind: PlaceholderAlmostEmpty},
		// Real short pages.
		{file: "noodle-shop.html"},
		{file: "tiny-studio.html"},
		// Real pages that quote a signature phrase.
		{file: "nginx-tutorial.html"},
		{file: "news-mentions-construction.html"},
		// Cannot be judged from static HTML.
		{file: "spa-shell.html", undecided: "needs_rendering"},
		{file: "image-only.html", undecided: "images"},
		{file: "frame-forward.html", undecided: "frames"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "placeholder", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			v := d.Detect(body)
			if v.Placeholder != (tt.kind != "") || v.Kind != tt.kind || v.Signature != tt.signature {
				t.Fatalf("verdict %+v, want kind %q signature %q", v, tt.kind, tt.signature)
			}
			if v.Placeholder && v.Evidence == "" {
				t.Error("a placeholder verdict needs evidence")
			}
			if (v.Undecided != "") != (tt.undecided != "") || !strings.Contains(v.Undecided, tt.undecided) {
				t.Errorf("undecided = %q, want %q", v.Undecided, tt.undecided)
			}
		})
	}
	// Every fixture is in the table, so a new one cannot be forgotten.
	files, _ := filepath.Glob(filepath.Join("testdata", "placeholder", "*.html"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("fixture %s has no expectation in this test", f)
		}
	}
}

func TestPlaceholderInline(t *testing.T) {
	d, err := DefaultPlaceholderDetector()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, body  string
		placeholder bool
	}{
		{"empty body", ``, true},
		{"full-width phrase", `<title>x</title><h1>ＷＥＬＣＯＭＥ　ＴＯ　ＮＧＩＮＸ！</h1>`, true},
		{"phrase split across elements", `<h1>网站<b>建设中</b></h1>`, true},
		{"phrase only in a comment", `<!-- 网站建设中 --><p>本店主营各类五金工具，欢迎新老客户来电咨询，量大从优，送货上门。</p>`, false},
		{"phrase only in a script", `<script>var s="该域名正在出售"</script><p>本店主营各类五金工具，欢迎新老客户来电咨询，量大从优，送货上门。</p>`, false},
		{"phrase only in an attribute", `<img alt="Welcome to nginx!" src="a.png"><p>本店主营各类五金工具，欢迎新老客户来电咨询，量大从优，送货上门。</p>`, false},
		{"a name and a sentence", `<h1>老王面馆</h1><p>手工拉面，电话 13812345678。</p>`, false},
		{"filing number and a licence only", `<p>京ICP证030173号 京ICP备12345678号-1 B2-20201234</p>`, true},
	}
	for _, tt := range tests {
		v := d.Detect([]byte(tt.body))
		if v.Placeholder != tt.placeholder {
			t.Errorf("%s: placeholder = %v, want %v (%+v)", tt.name, v.Placeholder, tt.placeholder, v)
		}
	}
}

func TestLoadPlaceholderSignatures(t *testing.T) {
	tests := []struct{ name, json, err string }{
		{"ok", `{"signatures":[{"id":"a","kind":"k","text":["Hello"],"max_runes":10}]}`, ""},
		{"no bound", `{"signatures":[{"id":"a","kind":"k","text":["x"]}]}`, "max_runes"},
		{"no phrase", `{"signatures":[{"id":"a","kind":"k","max_runes":5}]}`, "no phrase"},
		{"duplicate", `{"signatures":[{"id":"a","kind":"k","text":["x"],"max_runes":5},{"id":"a","kind":"k","text":["y"],"max_runes":5}]}`, "duplicate"},
		{"unknown field", `{"signatures":[{"id":"a","kind":"k","text":["x"],"max_runes":5,"maxrunes":3}]}`, "unknown field"},
		{"blank phrase", `{"signatures":[{"id":"a","kind":"k","text":["  "],"max_runes":5}]}`, "empty text phrase"},
		{"empty", `{"signatures":[]}`, "no signature"},
		{"not json", `signatures:`, "reading"},
	}
	for _, tt := range tests {
		sigs, err := LoadPlaceholderSignatures(strings.NewReader(tt.json))
		if tt.err == "" {
			if err != nil || len(sigs) != 1 || sigs[0].Text[0] != "hello" {
				t.Errorf("%s: %v %+v", tt.name, err, sigs)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
		}
	}
}

func BenchmarkPlaceholderDetect(b *testing.B) {
	d, err := DefaultPlaceholderDetector()
	if err != nil {
		b.Fatal(err)
	}
	body := shellFixture(b, "apache2-debian.html")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if v := d.Detect(body); !v.Placeholder {
			b.Fatal("not detected")
		}
	}
}
