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

		// Legitimate small sites, each judged by hand first: none may be
		// a placeholder. Short real pages.
		{file: "company-landing.html"},
		{file: "blog-one-post.html"},
		{file: "photographer-portfolio.html"},
		{file: "crm-login-rich.html"},
		{file: "english-onepage.html"},
		{file: "title-shouye-long.html"},
		{file: "lawyer-card.html"},
		{file: "resume-en.html"},
		{file: "wordpress-hello-world.html"},
		{file: "gbk-hardware.html"},
		{file: "maintenance-en.html"},
		// Ordinary words that hold a signature phrase (建设银行, 出售,
		// for sale, 网站建设 in a menu, 网站建设中心, 建设中国 in the title,
		// 域名出售中心 and 域名停放 on a registrar's own site, 网站已暂停更新,
		// 网站已关闭新用户注册, under construction and coming soon in a
		// sentence).
		{file: "shop-ccb.html"},
		{file: "realestate-for-sale.html"},
		{file: "car-dealer-en.html"},
		{file: "school-menu.html"},
		{file: "university-web-centre.html"},
		{file: "gov-article-short.html"},
		{file: "gov-photo-news.html"},
		{file: "hosting-company.html"},
		{file: "registrar-parking-service.html"},
		{file: "blog-stopped-updating.html"},
		{file: "forum-closed-registration.html"},
		{file: "hotel-under-construction-wing.html"},
		{file: "product-coming-soon.html"},
		// Short Chinese pages that quote an English default page.
		{file: "article-mentions-servers.html"},
		{file: "blog-welcome-to-nginx-post.html"},
		{file: "blog-welcome-to-nginx-bang.html"},
		{file: "iis-tutorial.html"},
		{file: "it-works-intranet.html"},
		// Little text, but something else carries the page.
		{file: "company-landing-cssbg.html", undecided: "CSS backgrounds"},
		{file: "splash-enter.html", undecided: "CSS backgrounds"},
		{file: "table-era-background.html", undecided: "images"},
		{file: "splash-enter-plain.html", undecided: "links to 2 other pages"},
		{file: "live-site-404.html", undecided: "links to 1 other pages"},
		{file: "oa-login.html", undecided: "form"},
		{file: "erp-login-js.html", undecided: "needs_rendering"},
		{file: "spa-react-noscript.html", undecided: "needs_rendering"},
		{file: "redirect-meta.html", undecided: "meta refresh"},
		{file: "redirect-js.html", undecided: "needs_rendering"},
		{file: "imagemap-home.html", undecided: "images"},
		{file: "flash-embed.html", undecided: "images"},
		{file: "video-background.html", undecided: "images"},
		{file: "app-download.html", undecided: "images"},
		{file: "wechat-qr.html", undecided: "images"},
		// A live site's maintenance notice is temporary, even when it
		// uses a suspended page's words.
		{file: "maintenance-short.html", undecided: "maintenance"},
		{file: "maintenance-suspended-wording.html", undecided: "maintenance"},
		{file: "maintenance-zh-tiny.html", undecided: "maintenance"},
		// Error answers, judged by the shell check as error pages.
		{file: "challenge-jsl-521.html", undecided: "needs_rendering"},
		{file: "challenge-cloudflare.html"},
		{file: "wordpress-maintenance-503.html"},
		{file: "maintenance-503-zh.html"},
		{file: "nginx-502.html"},

		// True placeholders, so that the above is not bought by turning
		// detection off.
		{file: "nginx-with-icp-footer.html", kind: PlaceholderDefaultPage, signature: "nginx-welcome"},
		// "网站维护：某某科技" credits who maintains the site; it is no
		// maintenance notice.
		{file: "nginx-with-maintainer-credit.html", kind: PlaceholderDefaultPage, signature: "nginx-welcome"},
		{file: "nginx-centos-testpage.html", kind: PlaceholderDefaultPage, signature: "nginx-test-page"},
		{file: "construction-with-logo.html", kind: PlaceholderUnderConstruction, signature: "under-construction-zh"},
		{file: "gb2312-construction.html", kind: PlaceholderUnderConstruction, signature: "under-construction-zh"},
		{file: "coming-soon-template.html", kind: PlaceholderUnderConstruction, signature: "under-construction-en"},
		{file: "hosting-expired.html", kind: PlaceholderSuspended, signature: "suspended-zh"},
		{file: "hosting-expired-renew.html", kind: PlaceholderSuspended, signature: "suspended-zh"},
		{file: "test-only.html", kind: PlaceholderAlmostEmpty},
		{file: "index-only-company-name.html", kind: PlaceholderAlmostEmpty},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "placeholder", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			// As the fetcher hands pages over: decoded from their charset.
			body, _ := decodeHTML(raw, "text/html")
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
			// Callers (the shell check's reading of 5xx pages) go by the
			// flag, not by the wording of the reason.
			if want := tt.undecided == "needs_rendering"; v.NeedsRendering != want {
				t.Errorf("NeedsRendering = %v, want %v", v.NeedsRendering, want)
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
		// A not word hides only itself: the phrase standing alone still counts.
		{"phrase next to the word that holds it", `<h1>本域名出售中</h1><p>详情请访问域名出售中心</p>`, true},
		{"phrase only inside the word that holds it", `<h1>云帆互联</h1><p>详情请访问域名出售中心，电话4008001234</p>`, false},
		// The Han bound: a Chinese sentence around an English default page's words.
		{"English default page phrase, English page", `<h1>Welcome to nginx!</h1><p>Installed.</p>`, true},
		{"English default page phrase in a Chinese post", `<h1>Welcome to nginx!</h1><p>装好以后打开服务器地址，看到这一行就说明安装成功了，下面讲怎么换成自己的网站。</p>`, false},
		// A blank page whose only links are its filing numbers' links to the
		// registries (any MIIT or PSB host the footer check knows) leads
		// nowhere into a site; a look-alike host is another site.
		{"linked to MIIT", `<a href="https://beian.miit.gov.cn/">京ICP备12345678号-1</a>`, true},
		{"linked to an obsolete MIIT host", `<a href="http://www.miitbeian.gov.cn/">京ICP备12345678号-1</a>`, true},
		{"linked to MIIT, trailing dot", `<a href="https://beian.miit.gov.cn./">京ICP备12345678号-1</a>`, true},
		{"linked to the PSB portal", `<a href="https://beian.mps.gov.cn/#/query/webSearch?code=11010802012345">京公网安备11010802012345号</a>`, true},
		{"linked to the old PSB form", `<a href="http://www.beian.gov.cn/portal/registerSystemInfo?recordcode=11010802012345">京公网安备11010802012345号</a>`, true},
		{"linked to a look-alike of MIIT", `<a href="https://beian.miit.gov.cn.example.com/">京ICP备12345678号-1</a>`, false},
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
		{"with not and max_han", `{"signatures":[{"id":"a","kind":"k","text":["Hello"],"max_runes":10,"max_han":3,"not":["Hello Kitty"]}]}`, ""},
		{"blank not phrase", `{"signatures":[{"id":"a","kind":"k","text":["x"],"max_runes":5,"not":[" "]}]}`, "empty not phrase"},
		{"negative max_han", `{"signatures":[{"id":"a","kind":"k","text":["x"],"max_runes":5,"max_han":-1}]}`, "max_han"},
		{"empty", `{"signatures":[]}`, "no signature"},
		{"not json", `signatures:`, "reading"},
	}
	for _, tt := range tests {
		sigs, err := LoadPlaceholderSignatures(strings.NewReader(tt.json))
		if tt.err == "" {
			if err != nil || len(sigs) != 1 || sigs[0].Text[0] != "hello" {
				t.Errorf("%s: %v %+v", tt.name, err, sigs)
			}
			// not phrases are folded like the page they are cut from.
			if len(sigs) == 1 && len(sigs[0].Not) > 0 && sigs[0].Not[0] != "hello kitty" {
				t.Errorf("%s: not = %q, want it folded", tt.name, sigs[0].Not)
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
