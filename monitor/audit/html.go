package audit

import (
	"bufio"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/beianwatch/beianwatch/beian"
)

//go:embed report.html.tmpl
var htmlSource string

// htmlTemplate is parsed once; it is read-only afterwards. html/template
// escapes every value by its context: evidence is text from hostile pages.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"lower": strings.ToLower,
}).Parse(htmlSource))

// FixTexts gives the title and how-to-fix text of a finding code;
// *alerts.Renderer implements it, so the report says what notices say.
type FixTexts interface {
	Fix(code, lang string) (title, fix string, err error)
}

// HTMLOptions configure WriteHTML.
type HTMLOptions struct {
	// Lang is zh (default) or en.
	Lang string
	// Fixes supplies the fix text per code; nil leaves it out.
	Fixes FixTexts
	// Provider is shown in the heading.
	Provider string
	// Location is the time zone of the times shown; nil means the times'
	// own.
	Location *time.Location
}

type htmlView struct {
	Lang     string
	L        map[string]string
	Provider string
	Started  string
	Finished string
	Duration string
	Summary  Summary
	Partial  string
	Checks   string
	Codes    []codeView
	// Sites are built one at a time as the template ranges over them, so
	// a 100,000-site report never holds every row in memory.
	Sites     iter.Seq[siteView]
	Verdicts  []verdictView
	CheckList []string
	// TagKeys are the tags the sites table can be grouped by.
	TagKeys []string
	// ShellChecked: the shell check ran, so entities were judged.
	ShellChecked bool
}

type verdictView struct {
	Outcome string
	Label   string
	Count   int
}

type codeView struct {
	CodeCount
	SeverityLabel string
	Title         string
	Fix           string
}

type siteView struct {
	Domain, ICP, PSB, Status, Entity string
	// Tags is "key=value;key=value" (data-tags, for grouping); TagList
	// the same, for showing; Owner the owner's channel kind, in words.
	Tags                  string
	TagList               []string
	Owner                 string
	Blocked               bool
	Verdict, VerdictLabel string
	VerdictRank           int
	Codes                 string // space-separated, for the filter
	Search                string
	Findings              int
	Checks                []checkView
}

type checkView struct {
	Name, Label, Outcome, OutcomeLabel, Reason string
	Findings                                   []findingView
	// Screenshot is the relative address of the PNG a failing rendered
	// footer kept (details.screenshot), written next to the report.
	Screenshot string
}

type findingView struct {
	Code, Severity, SeverityLabel, Title, Message, Evidence string
	Exempt                                                  bool
}

// WriteHTML writes one self-contained page: inline CSS and script, no
// external asset, nothing fetched when it is opened. It works without
// script too; the script adds sorting, filtering and live counts.
func WriteHTML(w io.Writer, r *Report, o HTMLOptions) error {
	lang := o.Lang
	if lang == "" {
		lang = "zh"
	}
	L, ok := labels[lang]
	if !ok {
		return fmt.Errorf("writing the HTML report: unknown language %q (want zh or en)", lang)
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		if o.Location != nil {
			t = t.In(o.Location)
		}
		return t.Format("2006-01-02 15:04:05 MST")
	}
	s := r.Summary
	v := htmlView{
		Lang: lang, L: L, Provider: o.Provider, Summary: s,
		Started: when(s.Started), Finished: when(s.Finished),
		Duration: (time.Duration(s.DurationMS) * time.Millisecond).Round(100 * time.Millisecond).String(),
	}
	if s.Partial {
		v.Partial = fmt.Sprintf(L["partial"], s.SitesChecked, s.SitesTotal)
	}
	var checkLabels []string
	for _, c := range s.Checks {
		checkLabels = append(checkLabels, labelOr(L, "check."+c, c))
	}
	v.Checks = strings.Join(checkLabels, lang2sep(lang))
	// Not-applicable sites (a cancelled filing, nothing to check) are
	// counted too: the counts add up to the sites checked.
	for _, out := range []beian.Outcome{beian.Fail, beian.Inconclusive, beian.Pass, beian.NotApplicable} {
		v.Verdicts = append(v.Verdicts, verdictView{Outcome: string(out), Label: L["verdict."+string(out)], Count: s.Sites[out]})
	}
	v.TagKeys = s.TagKeys
	v.ShellChecked = slices.Contains(s.Checks, beian.CheckShell)

	titles := map[string]string{}
	for _, c := range s.Findings {
		cv := codeView{CodeCount: c, SeverityLabel: labelOr(L, "severity."+string(c.Severity), string(c.Severity))}
		if o.Fixes != nil {
			if title, fix, err := o.Fixes.Fix(c.Code, lang); err == nil {
				cv.Title, cv.Fix = title, fix
			}
		}
		titles[c.Code] = cv.Title
		v.Codes = append(v.Codes, cv)
	}

	// Sites whose first filing is held up by their DNS come first (a
	// second pass over the spool brings the rest): they block a filing,
	// and a page read without its script shows them on top too.
	var readErr error
	v.Sites = func(yield func(siteView) bool) {
		for _, blocked := range []bool{true, false} {
			if blocked && s.BlockedFilings == 0 {
				continue
			}
			for site, err := range r.Sites() {
				if err != nil {
					readErr = err
					return
				}
				if site.BlocksFiling() != blocked {
					continue
				}
				if !yield(siteRow(site, L, titles)) {
					return
				}
			}
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := htmlTemplate.Execute(bw, v); err != nil {
		return fmt.Errorf("writing the HTML report: %w", err)
	}
	if readErr != nil {
		return fmt.Errorf("writing the HTML report: %w", readErr)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing the HTML report: %w", err)
	}
	return nil
}

// siteRow is one row of the sites table.
func siteRow(site SiteReport, L map[string]string, titles map[string]string) siteView {
	verdict := site.Verdict()
	sv := siteView{
		Domain: site.Domain, ICP: site.ICP, PSB: site.PSB, Entity: site.Entity,
		Status:  labelOr(L, "status."+string(site.Status), words(string(site.Status))),
		Verdict: string(verdict), VerdictLabel: L["verdict."+string(verdict)], VerdictRank: verdictRank(verdict),
		Tags: tagsCell(site.Tags), Blocked: site.BlocksFiling(),
	}
	if sv.Blocked {
		sv.VerdictRank = -1 // before every other failing site
	}
	for _, k := range slices.Sorted(maps.Keys(site.Tags)) {
		sv.TagList = append(sv.TagList, k+"="+site.Tags[k])
	}
	if site.OwnerChannel != "" {
		sv.Owner = labelOr(L, "channel."+site.OwnerChannel, site.OwnerChannel)
	} else {
		sv.Owner = L["channel.none"]
	}
	var codes []string
	for _, res := range site.Results {
		cv := checkView{
			Name: res.Check, Label: labelOr(L, "check."+res.Check, res.Check),
			Outcome: string(res.Outcome), OutcomeLabel: L["verdict."+string(res.Outcome)], Reason: reasonLabel(L, res.Reason),
		}
		if p := res.Details[DetailScreenshot]; p != "" && !strings.Contains(p, ":") && !strings.HasPrefix(p, "/") {
			// Only a relative file name: the report links what it was
			// written with, never an address a result could smuggle in.
			cv.Screenshot = p
		}
		for _, f := range res.Findings {
			cv.Findings = append(cv.Findings, findingView{
				Code: f.Code, Severity: string(f.Severity),
				SeverityLabel: labelOr(L, "severity."+string(f.Severity), words(string(f.Severity))),
				Title:         titles[f.Code], Message: f.Message, Evidence: clip(f.Evidence, 1000),
				Exempt: slices.Contains(site.Exempt, f.Code),
			})
			if !slices.Contains(codes, f.Code) {
				codes = append(codes, f.Code)
			}
			sv.Findings++
		}
		sv.Checks = append(sv.Checks, cv)
	}
	sv.Codes = strings.Join(codes, " ")
	sv.Search = strings.ToLower(strings.Join([]string{site.Domain, site.ICP, site.PSB, site.Entity, sv.Codes, strings.Join(sv.TagList, " ")}, " "))
	return sv
}

func verdictRank(o beian.Outcome) int {
	switch o {
	case beian.Fail:
		return 0
	case beian.Inconclusive:
		return 1
	case beian.Pass:
		return 2
	}
	return 3
}

// words shows an enum value a label is missing for as words, not as an
// identifier: first_filing_pending reads "first filing pending".
func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

// reasonLabel shows an inconclusive result's reason in words: the known
// reasons have labels, and a free-text reason is shown as it is.
func reasonLabel(L map[string]string, reason string) string {
	if l, ok := L["reason."+reason]; ok {
		return l
	}
	if !strings.ContainsAny(reason, " :;") {
		return words(reason)
	}
	return reason
}

func labelOr(L map[string]string, key, def string) string {
	if s, ok := L[key]; ok {
		return s
	}
	return def
}

func lang2sep(lang string) string {
	if lang == "zh" {
		return "、"
	}
	return ", "
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

var labels = map[string]map[string]string{
	"zh": {
		"title":                       "备案合规核查报告",
		"partial":                     "核查未完成（被中断）：本报告只包含已检查的 %d / %d 个网站。",
		"started":                     "开始",
		"finished":                    "结束",
		"duration":                    "用时",
		"checks":                      "检查项",
		"sites":                       "网站",
		"checked":                     "已检查",
		"of":                          "共",
		"by_code":                     "按问题汇总",
		"no_findings":                 "未发现问题。",
		"code":                        "问题代码",
		"problem":                     "问题",
		"severity":                    "级别",
		"site_count":                  "网站数",
		"finding_count":               "发现次数",
		"fix":                         "整改方法",
		"site_table":                  "网站明细",
		"search":                      "搜索域名、备案号、主体或问题代码",
		"all_verdicts":                "全部结论",
		"all_codes":                   "全部问题",
		"shown":                       "显示",
		"domain":                      "域名",
		"icp":                         "ICP备案号",
		"status":                      "备案状态",
		"verdict":                     "结论",
		"findings":                    "问题",
		"details":                     "检查详情",
		"screenshot":                  "浏览器所见页脚截图",
		"evidence":                    "证据",
		"exempt":                      "已豁免",
		"reason":                      "原因",
		"all_passed":                  "全部检查通过",
		"footer_note":                 "本报告由 beianwatch 生成。手机号码已打码。无法判定的检查不会作为违规处理。",
		"sort_hint":                   "点击表头排序",
		"verdict.pass":                "合规",
		"verdict.fail":                "不合规",
		"verdict.inconclusive":        "无法判定",
		"verdict.not_applicable":      "不适用",
		"severity.violation":          "违规",
		"severity.warning":            "警告",
		"severity.info":               "提示",
		"check.footer":                "备案号悬挂",
		"check.shell":                 "空壳网站",
		"check.dns":                   "首次备案期间解析",
		"check.contact":               "联系方式",
		"status.filed":                "已备案",
		"status.first_filing_pending": "首次备案审核中",
		"status.change_pending":       "变更备案中",
		"status.access_pending":       "新增接入中",
		"status.cancelled":            "已注销",
		"owner":                       "通知渠道",
		"tags":                        "标签",
		"entity":                      "主体",
		"group_by":                    "分组",
		"group_none":                  "不分组",
		"group_entity":                "按主体",
		"group_tag":                   "按标签 %s",
		"no_value":                    "（无）",
		"blocked_filings":             "首次备案受阻",
		"blocked_note":                "这些网站在首次备案审核期间仍在解析，会导致备案被驳回，排在最前。",
		"channel.webhook":             "Webhook",
		"channel.dingtalk":            "钉钉",
		"channel.wecom":               "企业微信",
		"channel.feishu":              "飞书",
		"channel.slack":               "Slack",
		"channel.none":                "无（通知发往运维渠道）",
		"entities":                    "空壳主体",
		"entities_note":               "主体下所有网站均为空壳网站或已注销。通信管理局可能注销此类主体的备案，主体下所有网站随之注销：请督促至少整改一个网站，或办理注销主体备案。",
		"entity_number":               "主体备案号",
		"shell_sites":                 "空壳网站",
		"cancelled_sites":             "已注销网站",
		"no_entities":                 "未发现空壳主体。",
		"entities_undetermined":       "另有 %d 个主体因部分网站无法判定而未作判断。",
		"reason.needs_rendering":      "需要浏览器渲染后才能判断",
		"reason.bot_challenge":        "遇到人机验证页面",
		"reason.number_in_image":      "备案号以图片显示，需人工查看",
	},
	"en": {
		"title":                       "ICP filing compliance audit",
		"partial":                     "Partial audit (interrupted): this report covers %d of %d sites.",
		"started":                     "Started",
		"finished":                    "Finished",
		"duration":                    "Duration",
		"checks":                      "Checks",
		"sites":                       "Sites",
		"checked":                     "checked",
		"of":                          "of",
		"by_code":                     "Findings by code",
		"no_findings":                 "No findings.",
		"code":                        "Code",
		"problem":                     "Problem",
		"severity":                    "Severity",
		"site_count":                  "Sites",
		"finding_count":               "Findings",
		"fix":                         "How to fix",
		"site_table":                  "Sites",
		"search":                      "Search domain, filing number, entity or code",
		"all_verdicts":                "All verdicts",
		"all_codes":                   "All codes",
		"shown":                       "Showing",
		"domain":                      "Domain",
		"icp":                         "ICP number",
		"status":                      "Filing status",
		"verdict":                     "Verdict",
		"findings":                    "Findings",
		"details":                     "Check details",
		"screenshot":                  "Footer as the browser showed it",
		"evidence":                    "Evidence",
		"exempt":                      "exempt",
		"reason":                      "Reason",
		"all_passed":                  "All checks passed",
		"footer_note":                 "Generated by beianwatch. Phone numbers are masked. An inconclusive check is never treated as a violation.",
		"sort_hint":                   "click a column heading to sort",
		"verdict.pass":                "pass",
		"verdict.fail":                "fail",
		"verdict.inconclusive":        "inconclusive",
		"verdict.not_applicable":      "not applicable",
		"severity.violation":          "violation",
		"severity.warning":            "warning",
		"severity.info":               "info",
		"check.footer":                "footer",
		"check.shell":                 "empty shell",
		"check.dns":                   "DNS during first filing",
		"check.contact":               "contacts",
		"status.filed":                "filed",
		"status.first_filing_pending": "first filing pending",
		"status.change_pending":       "change pending",
		"status.access_pending":       "access pending",
		"status.cancelled":            "cancelled",
		"owner":                       "Notified via",
		"tags":                        "Tags",
		"entity":                      "Entity",
		"group_by":                    "Group",
		"group_none":                  "No grouping",
		"group_entity":                "By entity",
		"group_tag":                   "By tag %s",
		"no_value":                    "(none)",
		"blocked_filings":             "First filings blocked",
		"blocked_note":                "These sites resolve while their first filing is under review, which gets the filing rejected; they are listed first.",
		"channel.webhook":             "webhook",
		"channel.dingtalk":            "DingTalk",
		"channel.wecom":               "WeCom",
		"channel.feishu":              "Feishu",
		"channel.slack":               "Slack",
		"channel.none":                "none (notices go to the ops channel)",
		"entities":                    "Empty-shell entities",
		"entities_note":               "Every site of these entities is an empty shell or cancelled. The regulator may cancel such an entity's filing, and every one of its sites with it: have the owner fix one site, or deregister the entity (注销).",
		"entity_number":               "Entity filing number",
		"shell_sites":                 "Empty-shell sites",
		"cancelled_sites":             "Cancelled sites",
		"no_entities":                 "No empty-shell entity found.",
		"entities_undetermined":       "%d more entities were not judged: some of their sites could not be checked.",
		"reason.needs_rendering":      "needs a browser to render the page",
		"reason.bot_challenge":        "a bot challenge page answered",
		"reason.number_in_image":      "the number is shown as an image; a person must look",
	},
}

// DetailScreenshot is the result detail naming the footer screenshot file
// an audit wrote next to its report.
const DetailScreenshot = "screenshot"
