package checks

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/egress"
)

type footerCase struct {
	page       string // fixture in testdata/footer, without .html
	icp        string // expected ICP number (default 京ICP备2024000001号-1)
	psb        string
	header     string // Content-Type to serve with (default text/html, no charset)
	outcome    Outcome
	violations []string
	warnings   []string
	reason     string
	unjudged   []string // codes the run could not judge
}

var footerCases = []footerCase{
	{page: "good", outcome: Pass},
	{page: "good_hash_route", outcome: Pass},
	{page: "good_http_noslash", outcome: Pass},
	{page: "good_scheme_relative", outcome: Pass},
	// Text split across elements, &nbsp;, full-width, entities, traditional, zero-width.
	{page: "split_spans", outcome: Pass},
	{page: "split_nbsp", outcome: Pass},
	{page: "fullwidth", outcome: Pass},
	{page: "entities", outcome: Pass},
	{page: "hex_entities", outcome: Pass},
	{page: "traditional", outcome: Pass},
	{page: "zero_width", outcome: Pass},
	{page: "only_digits_linked", outcome: Pass},
	{page: "label_linked_digits_not", outcome: Fail, violations: []string{CodeFooterLinkMissing}},
	{page: "desktop_mobile_copies", outcome: Pass},
	// Charsets: header only, meta only, http-equiv.
	{page: "gbk_header", header: "text/html; charset=GBK", outcome: Pass},
	{page: "gbk_meta", outcome: Pass},
	{page: "gb2312_meta", outcome: Pass},
	{page: "gb18030_meta", outcome: Pass},
	// Not visible: comment, attribute, hidden input, meta, template, noscript.
	{page: "comment_only", outcome: Fail, violations: []string{CodeFooterICPMissing}},
	{page: "attribute_only", outcome: Fail, violations: []string{CodeFooterICPMissing}},
	{page: "hidden_input", outcome: Fail, violations: []string{CodeFooterICPMissing}},
	{page: "meta_only", outcome: Fail, violations: []string{CodeFooterICPMissing}},
	{page: "template_only", outcome: Fail, violations: []string{CodeFooterICPMissing}},
	{page: "noscript_only", outcome: Fail, violations: []string{CodeFooterICPMissing}},
	// Drawn by script or shown as an image: a person must look.
	{page: "script_only", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "script_unicode_escaped", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "spa_shell", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "badge_image", outcome: Inconclusive, reason: ReasonNumberInImage},
	{page: "image_link_no_alt", outcome: Inconclusive, reason: ReasonNumberInImage},
	{page: "image_map", outcome: Inconclusive, reason: ReasonNumberInImage},
	// Framesets and iframe wrappers show the footer from another document;
	// an iframe inside a real page does not excuse a missing number.
	{page: "frameset", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "iframe_wrapper", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "iframe_map_no_number", outcome: Fail, violations: []string{CodeFooterICPMissing}},
	// A meta refresh within 10 s is followed once, as a browser does; a
	// slow one is a page meant to be read.
	{page: "meta_refresh", outcome: Pass},
	{page: "meta_refresh_to_bad", outcome: Fail, violations: []string{CodeFooterLinkObsolete}},
	{page: "meta_refresh_slow", outcome: Fail, violations: []string{CodeFooterICPMissing}},
	// A firewall or bot check answered instead of the homepage.
	{page: "challenge_cloudflare", outcome: Inconclusive, reason: ReasonBotChallenge},
	{page: "challenge_aliyun", outcome: Inconclusive, reason: ReasonBotChallenge},
	// Links: obsolete, look-alike, tricks.
	{page: "obsolete_miitbeian", outcome: Fail, violations: []string{CodeFooterLinkObsolete}},
	{page: "obsolete_miitbeian_bare", outcome: Fail, violations: []string{CodeFooterLinkObsolete}},
	{page: "obsolete_miibeian", outcome: Fail, violations: []string{CodeFooterLinkObsolete}},
	{page: "obsolete_www_beian", outcome: Fail, violations: []string{CodeFooterLinkObsolete}},
	{page: "lookalike_suffix", outcome: Fail, violations: []string{CodeFooterLinkWrong}},
	{page: "lookalike_userinfo", outcome: Fail, violations: []string{CodeFooterLinkWrong}},
	{page: "lookalike_path", outcome: Fail, violations: []string{CodeFooterLinkWrong}},
	{page: "relative_host", outcome: Fail, violations: []string{CodeFooterLinkWrong}},
	{page: "javascript_href", outcome: Fail, violations: []string{CodeFooterLinkWrong}},
	{page: "onclick_span", outcome: Fail, violations: []string{CodeFooterLinkMissing}},
	{page: "link_elsewhere_badge", outcome: Fail, violations: []string{CodeFooterLinkMissing}},
	{page: "not_linked", outcome: Fail, violations: []string{CodeFooterLinkMissing}},
	// Numbers: licences, other entities, other suffixes, entity only, formats.
	{page: "licence_only", outcome: Fail, violations: []string{CodeFooterICPMissing}},
	{page: "licence_and_number", outcome: Pass},
	{page: "other_entity", outcome: Fail, violations: []string{CodeFooterICPMismatch}},
	{page: "other_suffix", outcome: Fail, violations: []string{CodeFooterICPMismatch}},
	{page: "entity_only", outcome: Pass, warnings: []string{CodeFooterEntityOnly}},
	{page: "entity_only", icp: "京ICP备2024000001号", outcome: Pass},
	{page: "good", icp: "京ICP备2024000001号", outcome: Pass},
	{page: "gd_entity", icp: "粤ICP备12345678号-3", outcome: Pass},
	{page: "format_suffix_before_hao", outcome: Pass, warnings: []string{CodeFooterICPFormat}},
	{page: "format_colon", outcome: Pass, warnings: []string{CodeFooterICPFormat}},
	{page: "format_no_hao", outcome: Pass, warnings: []string{CodeFooterICPFormat}},
	{page: "top_only", outcome: Pass, warnings: []string{CodeFooterNotAtBottom}},
	// PSB.
	{page: "psb_good", psb: "京公网安备11010802012345号", outcome: Pass},
	{page: "psb_old", psb: "京公网安备11010802012345号", outcome: Pass, warnings: []string{CodeFooterPSBLinkOld}},
	{page: "psb_wrong_code", psb: "京公网安备11010802012345号", outcome: Fail, violations: []string{CodeFooterPSBLinkWrong}},
	{page: "psb_wrong_place", psb: "京公网安备11010802012345号", outcome: Fail, violations: []string{CodeFooterPSBLinkWrong}},
	// A stray "%" that Go's URL parser refuses (a browser keeps it) does
	// not lose the code the query or fragment carries, nor the path of the
	// old form; another code is still another code.
	{page: "psb_link_stray_percent_fragment", psb: "京公网安备11010802012345号", outcome: Pass},
	{page: "psb_link_stray_percent_path", psb: "京公网安备11010802012345号", outcome: Pass},
	{page: "psb_link_stray_percent_old", psb: "京公网安备11010802012345号", outcome: Pass, warnings: []string{CodeFooterPSBLinkOld}},
	{page: "psb_link_stray_percent_other_code", psb: "京公网安备11010802012345号", outcome: Fail, violations: []string{CodeFooterPSBLinkWrong}},
	{page: "psb_unlinked", psb: "京公网安备11010802012345号", outcome: Fail, violations: []string{CodeFooterPSBLinkMiss}},
	{page: "psb_missing", psb: "京公网安备11010802012345号", outcome: Fail, violations: []string{CodeFooterPSBMissing}},
	{page: "psb_other_number", psb: "京公网安备11010802012345号", outcome: Fail, violations: []string{CodeFooterPSBMissing}},
	{page: "psb_good", outcome: Pass}, // a PSB number shown but none on file: nothing to say
	// A PSB number shown only as an image: a person must look, unless the
	// ICP part already violates.
	{page: "psb_image_only", psb: "京公网安备11010802012345号", outcome: Inconclusive, reason: ReasonNumberInImage},
	{page: "psb_image_only_icp_bad", psb: "京公网安备11010802012345号", outcome: Fail, violations: []string{CodeFooterLinkObsolete},
		unjudged: []string{CodeFooterPSBMissing, CodeFooterPSBLinkMiss, CodeFooterPSBLinkWrong}},
	// What follows a number across a space or a block boundary is the next
	// word or line, not a site suffix: "号-1 All Rights Reserved" is not
	// 号-1A, and "号-1" over a line "400-888-1234" is not 号-1400.
	{page: "suffix_then_words", outcome: Pass},
	{page: "suffix_then_words_inline", outcome: Pass},
	{page: "suffix_then_phone_line", outcome: Pass},
	{page: "suffix_then_phone_cell", outcome: Pass},
	{page: "no_hao_then_year_line", icp: "京ICP备2024000001号", outcome: Pass, warnings: []string{CodeFooterICPFormat}},
	{page: "psb_then_year_line", psb: "京公网安备11010802012345号", outcome: Pass},
	{page: "dash_minus_sign", outcome: Pass},
	// "公安备案号：<code>" names no province, so the grammar finds no PSB
	// number; the site's exact code standing alone is still its number,
	// judged by its link. Inside a longer digit run it is not.
	{page: "psb_bare_linked", psb: "京公网安备11010802012345号", outcome: Pass},
	{page: "psb_bare_unlinked", psb: "京公网安备11010802012345号", outcome: Fail, violations: []string{CodeFooterPSBLinkMiss}},
	{page: "psb_digits_inside_longer", psb: "京公网安备11010802012345号", outcome: Fail, violations: []string{CodeFooterPSBMissing}},
	// Digits next to it across a space or a line break are another word
	// (a phone number, a postcode, a year), not part of a longer run.
	{page: "psb_bare_after_phone", psb: "京公网安备11010802012345号", outcome: Pass},
	{page: "psb_bare_after_postcode_line", psb: "京公网安备11010802012345号", outcome: Pass},
	// Hrefs a browser forgives still reach beian.miit.gov.cn; a <base href>
	// moves relative links, as in a browser.
	{page: "href_backslashes", outcome: Pass},
	{page: "href_three_slashes", outcome: Pass},
	{page: "href_one_slash", outcome: Pass},
	{page: "href_percent_host", outcome: Pass},
	{page: "href_percent_userinfo", outcome: Fail, violations: []string{CodeFooterLinkWrong}},
	{page: "href_fullwidth_dot", outcome: Pass},
	{page: "base_href_miit", outcome: Pass},
	{page: "base_href_site", outcome: Fail, violations: []string{CodeFooterLinkWrong}},
	{page: "a_self_closing", outcome: Pass},
	{page: "svg_xlink_href", outcome: Pass},
	// Footers drawn by script or CSS, or loaded from another document.
	{page: "noscript_with_scripts", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "footer_script_src", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "footer_block_script", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "footer_block_empty", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "footer_custom_element", outcome: Inconclusive, reason: ReasonNeedsRendering},
	// A data attribute holding the MIIT address (plain, percent- or
	// base64-encoded) on a page with scripts: a theme script turns the
	// element into a link, so the link is for rendering to judge. Without
	// scripts, or with another address, nothing makes it a link.
	{page: "exturl_base64", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "exturl_percent", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "exturl_no_scripts", outcome: Fail, violations: []string{CodeFooterLinkMissing}},
	{page: "exturl_other_data", outcome: Fail, violations: []string{CodeFooterLinkMissing}},
	// An empty <footer> of an <article> is the post's, not the site's: the
	// site footer is there without a number, so the number is missing.
	// Without a site footer, or with an empty slot in the site footer, the
	// page still needs a browser.
	{page: "article_footer_empty_site_footer", outcome: Fail, violations: []string{CodeFooterICPMissing}},
	{page: "article_footer_empty_no_site_footer", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "article_footer_empty_site_footer_beian_slot", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "iframe_footer_src", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "css_content", outcome: Inconclusive, reason: ReasonNeedsRendering},
	// A statistics script in a footer that has text, and an empty
	// decorative block, do not excuse a missing number.
	{page: "footer_stats_script", outcome: Fail, violations: []string{CodeFooterICPMissing}},
	// An inline script naming beian.miit.gov.cn may build the link the
	// static HTML lacks; a part that did fail still fails.
	{page: "script_builds_link", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "script_rewrites_obsolete", outcome: Inconclusive, reason: ReasonNeedsRendering},
	{page: "script_builds_link", psb: "京公网安备11010802012345号", outcome: Fail, violations: []string{CodeFooterPSBMissing},
		unjudged: []string{CodeFooterLinkMissing, CodeFooterLinkObsolete, CodeFooterLinkWrong}},
}

func (tc footerCase) site(t testing.TB) *Site {
	icp := tc.icp
	if icp == "" {
		icp = "京ICP备2024000001号-1"
	}
	n, err := ParseICP(icp)
	if err != nil {
		t.Fatal(err)
	}
	s := &Site{Domain: "example.cn", ICP: &n, Status: StatusFiled}
	if tc.psb != "" {
		p, err := ParsePSB(tc.psb)
		if err != nil {
			t.Fatal(err)
		}
		s.PSB = &p
	}
	return s
}

func codesOf(fs []Finding, sev Severity) []string {
	var out []string
	for _, f := range fs {
		if f.Severity == sev {
			out = append(out, f.Code)
		}
	}
	sort.Strings(out)
	return out
}

func assertFooter(t *testing.T, tc footerCase, r Result) {
	t.Helper()
	want := slices.Clone(tc.violations)
	sort.Strings(want)
	wantW := slices.Clone(tc.warnings)
	sort.Strings(wantW)
	if r.Outcome != tc.outcome {
		t.Errorf("outcome %s (%s), want %s; findings %+v", r.Outcome, r.Reason, tc.outcome, r.Findings)
	}
	if got := codesOf(r.Findings, Violation); !slices.Equal(got, want) {
		t.Errorf("violations %v, want %v; findings %+v", got, want, r.Findings)
	}
	if got := codesOf(r.Findings, Warning); !slices.Equal(got, wantW) {
		t.Errorf("warnings %v, want %v; findings %+v", got, wantW, r.Findings)
	}
	if tc.reason != "" && r.Reason != tc.reason {
		t.Errorf("reason %q, want %q", r.Reason, tc.reason)
	}
	if !slices.Equal(r.Unjudged, tc.unjudged) {
		t.Errorf("unjudged %v, want %v", r.Unjudged, tc.unjudged)
	}
	for _, f := range r.Findings {
		if f.Message == "" || f.Evidence == "" {
			t.Errorf("finding %s lacks a message or evidence: %+v", f.Code, f)
		}
	}
}

// TestFooterServed runs every case through the real fetcher against a
// page served by httptest, as the check runs in production.
func TestFooterServed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.Trim(r.URL.Path, "/")
		body, err := os.ReadFile(filepath.Join("testdata", "footer", name+".html"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		ct := r.URL.Query().Get("ct")
		if ct == "" {
			ct = "text/html"
		}
		w.Header().Set("Content-Type", ct)
		w.Write(body)
	}))
	defer srv.Close()
	f := NewFetcher(FetcherConfig{Timeout: 5 * time.Second, Policy: egress.Policy{AllowPrivate: true}})
	check := NewFooterCheck(f, FooterOptions{})
	for _, tc := range footerCases {
		t.Run(tc.page+"/"+tc.icp+tc.psb, func(t *testing.T) {
			s := tc.site(t)
			s.URL = srv.URL + "/" + tc.page
			if tc.header != "" {
				s.URL += "?ct=" + strings.ReplaceAll(tc.header, " ", "%20")
			}
			r := Run(context.Background(), check, s)
			assertFooter(t, tc, r)
		})
	}
}

func TestFooterEntityOnlyAsViolation(t *testing.T) {
	body, err := os.ReadFile("testdata/footer/entity_only.html")
	if err != nil {
		t.Fatal(err)
	}
	tc := footerCase{page: "entity_only", outcome: Fail, violations: []string{CodeFooterEntityOnly}}
	r := EvaluateFooter(body, tc.site(t), FooterOptions{EntityOnlyIsViolation: true})
	assertFooter(t, tc, r)
}

func TestFooterEvidence(t *testing.T) {
	body, _ := os.ReadFile("testdata/footer/obsolete_miitbeian.html")
	r := EvaluateFooter(body, footerCase{}.site(t), FooterOptions{})
	if len(r.Findings) != 1 {
		t.Fatalf("findings %+v", r.Findings)
	}
	ev := r.Findings[0].Evidence
	if !strings.Contains(ev, "京ICP备2024000001号-1") || !strings.Contains(ev, "http://www.miitbeian.gov.cn/") {
		t.Errorf("evidence %q should hold the normalised number and the href", ev)
	}
}

func TestFooterNotApplicable(t *testing.T) {
	check := NewFooterCheck(nil, FooterOptions{})
	for _, st := range []Status{StatusFirstFilingPending, StatusCancelled} {
		r := Run(context.Background(), check, &Site{Domain: "example.cn", Status: st})
		if r.Outcome != NotApplicable || r.Reason == "" {
			t.Errorf("status %s: %+v, want not_applicable with a reason", st, r)
		}
	}
}

func TestVisibleText(t *testing.T) {
	got := VisibleText([]byte(`<html><head><title>T</title><style>p{}</style></head><body><p>你好，<b>世界</b></p><!-- c --><script>x=1</script><template>t</template><p>二</p></body></html>`))
	if got != "你好， 世界 二" && got != "你好，世界 二" {
		t.Errorf("VisibleText = %q", got)
	}
}

// BenchmarkEvaluateFooter measures the footer rules on a realistic 100 KB
// portal homepage (navigation, news lists, scripts, a footer).
func BenchmarkEvaluateFooter(b *testing.B) {
	body := realisticPage(100 << 10)
	s := footerCase{psb: "京公网安备11010802012345号"}.site(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := EvaluateFooter(body, s, FooterOptions{})
		if r.Outcome != Pass {
			b.Fatalf("outcome %s: %+v", r.Outcome, r.Findings)
		}
	}
}

func realisticPage(size int) []byte {
	var sb strings.Builder
	sb.WriteString(`<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>示例科技有限公司 - 首页</title>`)
	sb.WriteString(`<link rel="stylesheet" href="/css/main.css"><style>.nav li{float:left;margin:0 10px}.news a{color:#333}</style>`)
	sb.WriteString(`<script>var _hmt=_hmt||[];(function(){var hm=document.createElement("script");hm.src="https://hm.example.com/hm.js";})();</script></head><body>`)
	sb.WriteString(`<div class="header"><ul class="nav"><li><a href="/">首页</a></li><li><a href="/about/">关于我们</a></li><li><a href="/product/">产品中心</a></li><li><a href="/news/">新闻动态</a></li><li><a href="/contact/">联系我们</a></li></ul></div>`)
	i := 0
	for sb.Len() < size-2000 {
		i++
		sb.WriteString(`<div class="news-item"><a href="/news/2026/`)
		sb.WriteString(strings.Repeat("1", 1+i%5))
		sb.WriteString(`.html" title="行业动态"><img src="/upload/thumb.jpg" alt="新闻图片"><h3>公司荣获年度优秀服务商称号，持续推进数字化转型</h3></a><p class="desc">近日，我公司在行业年会上获得表彰。&nbsp;这是对我们多年来坚持技术创新、服务客户的肯定。</p><span class="date">2026-11-0`)
		sb.WriteString(string(rune('1' + i%9)))
		sb.WriteString(`</span></div>`)
	}
	sb.WriteString(`<div class="footer"><p>Copyright © 2026 示例科技有限公司 版权所有 地址：北京市海淀区示例路1号 电话：010-6234****</p>`)
	sb.WriteString(`<p><a href="https://beian.miit.gov.cn/" target="_blank">京ICP备2024000001号-1</a>&nbsp;&nbsp;<a target="_blank" href="https://beian.mps.gov.cn/#/query/webSearch?code=11010802012345"><img src="/images/ga.png">京公网安备 11010802012345号</a></p></div>`)
	sb.WriteString(`<script src="/js/jquery.min.js"></script><script>$(function(){$(".nav li").hover(function(){});});</script></body></html>`)
	return []byte(sb.String())
}

// TestFooterManyNumbers: a page showing thousands of numbers is judged
// with bounded evidence.
func TestFooterManyNumbers(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("<html><body>")
	for i := range 5000 {
		fmt.Fprintf(&sb, "<span><a href='https://example.com/%d'>京ICP备%08d号</a></span>", i, 10000000+i)
	}
	sb.WriteString("</body></html>")
	r := EvaluateFooter([]byte(sb.String()), footerCase{}.site(t), FooterOptions{})
	if r.Outcome != Fail || len(r.Findings) != 1 || r.Findings[0].Code != CodeFooterICPMismatch {
		t.Fatalf("%+v", r)
	}
	if n := strings.Count(r.Findings[0].Evidence, "ICP备"); n != maxListed {
		t.Errorf("evidence lists %d numbers, want %d", n, maxListed)
	}
}

// BenchmarkEvaluateFooterHostile: 4 MB (the body cap) of the expected
// number, each in its own link, must stay linear.
func BenchmarkEvaluateFooterHostile(b *testing.B) {
	var sb strings.Builder
	for sb.Len() < 4<<20 {
		sb.WriteString("<span><a href='https://evil.example/'>京ICP备2024000001号-1</a></span>")
	}
	body := []byte(sb.String())
	s := footerCase{}.site(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if r := EvaluateFooter(body, s, FooterOptions{}); r.Outcome != Fail {
			b.Fatal(r.Outcome)
		}
	}
}

// FuzzEvaluateFooter: no page makes the footer rules panic, and a result
// always has an outcome.
func FuzzEvaluateFooter(f *testing.F) {
	entries, _ := os.ReadDir("testdata/footer")
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join("testdata/footer", e.Name())); err == nil {
			f.Add(b)
		}
	}
	s := footerCase{psb: "京公网安备11010802012345号"}.site(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := EvaluateFooter(body, s, FooterOptions{})
		if r.Outcome == "" {
			t.Fatal("no outcome")
		}
	})
}

// deepUnmatchedPage nests n <div>s and then closes n <span>s that were
// never opened: each end tag used to search the whole stack of open
// elements, so a 2 MB page held a check for half a minute.
func deepUnmatchedPage(n int) []byte {
	return []byte(strings.Repeat("<div>", n) + strings.Repeat("</span>", n) + "<p>京ICP备2024000001号-1</p>")
}

func BenchmarkEvaluateFooterDeepUnmatched(b *testing.B) {
	body := deepUnmatchedPage(150_000)
	s := footerCase{}.site(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		EvaluateFooter(body, s, FooterOptions{})
	}
}

// Past the depth limit, elements still hold their text: a link nested
// 600 deep links its number, and unopened end tags change nothing.
func TestFooterDeepNesting(t *testing.T) {
	s := footerCase{}.site(t)
	linked := strings.Repeat("<div>", 600) + `<a href="https://beian.miit.gov.cn/">京ICP备2024000001号-1</a>` + strings.Repeat("</div>", 600)
	tests := []struct {
		name string
		body string
		want Outcome
		code string
	}{
		{"link 600 deep", linked, Pass, ""},
		{"link 600 deep after unopened end tags", strings.Repeat("</span>", 1000) + linked, Pass, ""},
		{"number not linked under deep unmatched tags", string(deepUnmatchedPage(5000)), Fail, CodeFooterLinkMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := EvaluateFooter([]byte(tt.body), s, FooterOptions{})
			has := tt.code == ""
			for _, f := range r.Findings {
				has = has || f.Code == tt.code
			}
			if r.Outcome != tt.want || !has {
				t.Fatalf("outcome %s %v, want %s %s", r.Outcome, r.Findings, tt.want, tt.code)
			}
		})
	}
}
