package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/beianwatch/beianwatch/monitor/dossier"
)

// messages are the console's words, zh then en.
var messages = map[string][2]string{
	"title":           {"备案监测控制台", "beianwatch console"},
	"overview":        {"总览", "Overview"},
	"sign_in":         {"登录", "Sign in"},
	"sign_out":        {"退出", "Sign out"},
	"token":           {"API 令牌", "API token"},
	"your_name":       {"您的姓名（记入操作记录）", "Your name (recorded in the audit trail)"},
	"wrong_token":     {"令牌不正确。", "That token is not right."},
	"name_required":   {"请填写姓名：每个操作都记录操作人。", "Enter your name: every action records who did it."},
	"signed_in_as":    {"登录身份", "Signed in as"},
	"sites":           {"网站", "Sites"},
	"by_check":        {"各检查最新结果", "Latest results by check"},
	"check":           {"检查", "Check"},
	"pass":            {"通过", "Pass"},
	"fail":            {"违规", "Fail"},
	"inconclusive":    {"无法判定", "Inconclusive"},
	"not_applicable":  {"不适用", "N/A"},
	"by_code":         {"各问题代码", "By finding code"},
	"code":            {"代码", "Code"},
	"pending":         {"待确认", "Pending"},
	"open":            {"未整改", "Open"},
	"escalated":       {"已升级", "Escalated"},
	"resolved":        {"已整改", "Resolved"},
	"exempted":        {"已豁免", "Exempted"},
	"active_viol":     {"未关闭的违规（按期限排序）", "Open and escalated violations, nearest deadline first"},
	"filter":          {"筛选", "Filter"},
	"tag":             {"标签", "Tag"},
	"entity":          {"主体", "Entity"},
	"any":             {"全部", "any"},
	"apply":           {"应用", "Apply"},
	"site":            {"网站", "Site"},
	"status":          {"状态", "Status"},
	"opened":          {"发现时间", "Opened"},
	"deadline":        {"整改期限", "Deadline"},
	"message":         {"说明", "Message"},
	"none":            {"无", "None"},
	"notice_queue":    {"通知队列", "Notice queue"},
	"oldest_queued":   {"最早排队通知已等待", "Oldest queued notice has waited"},
	"no_queued":       {"没有排队中的通知", "No notice is queued"},
	"needs_attention": {"暂缓、失败与丢弃的通知", "Held, dead and dropped notices"},
	"notice":          {"通知", "Notice"},
	"created":         {"生成时间", "Created"},
	"state":           {"状态", "State"},
	"attempts":        {"尝试次数", "Attempts"},
	"note":            {"说明", "Note"},
	"filing":          {"备案信息", "Filing"},
	"icp":             {"ICP备案号", "ICP filing"},
	"psb":             {"公安备案号", "PSB filing"},
	"filing_status":   {"备案状态", "Filing status"},
	"owner_channel":   {"通知渠道", "Owner channel"},
	"contacts":        {"联系电话", "Contacts"},
	"tags":            {"标签", "Tags"},
	"latest":          {"各检查最新结果", "Latest result of each check"},
	"checked_at":      {"检查时间", "Checked"},
	"findings":        {"发现", "Findings"},
	"evidence":        {"证据", "Evidence"},
	"exempt_badge":    {"豁免中", "exempt"},
	"details":         {"详情", "Details"},
	"screenshots":     {"页脚截图", "Rendered footer screenshots"},
	"violations":      {"违规", "Violations"},
	"timeline":        {"时间线", "Timeline"},
	"time":            {"时间", "Time"},
	"event":           {"事件", "Event"},
	"exemptions":      {"豁免", "Exemptions"},
	"scope":           {"范围", "Scope"},
	"until":           {"截止", "Until"},
	"reason":          {"原因", "Reason"},
	"granted_by":      {"批准人", "Granted by"},
	"removed":         {"已撤销", "Removed"},
	"expired":         {"已过期", "Expired"},
	"active":          {"生效中", "Active"},
	"remove":          {"撤销", "Remove"},
	"add_exemption":   {"新增豁免", "Add an exemption"},
	"code_or_check":   {"代码（或留空并选择整个检查）", "Code (or leave empty and pick a whole check)"},
	"whole_check":     {"整个检查", "Whole check"},
	"until_help":      {"截止日期（含当天，北京时间）", "Until (inclusive, Asia/Shanghai)"},
	"check_now":       {"立即检查", "Check now"},
	"dossier":         {"整改记录（可打印）", "Dossier (printable)"},
	"done_check":      {"已安排立即检查，结果稍后出现。", "Checks queued; results appear shortly."},
	"done_exempted":   {"豁免已添加；相关违规已关闭为“已豁免”，未通知网站所有者。", "Exemption added; the violations it covers are closed as exempted, and the owner was not told."},
	"done_unexempted": {"豁免已撤销；下一次检查起正常判定。", "Exemption removed; its codes are judged normally from the next run."},
	"notice_text":     {"发送的原文", "Text as sent"},
	"signed_headers":  {"签名头", "Signed headers"},
	"http_status":     {"HTTP 状态", "HTTP status"},
	"channel":         {"渠道", "Channel"},
	"reply":           {"接收方回复（已脱敏）", "Receiver's reply (masked)"},
	"error":           {"错误", "Error"},
	"delivered":       {"已送达", "Delivered"},
	"announces":       {"通知内容", "Announces"},
	"not_signed_in":   {"请先登录。", "Please sign in first."},
	"bad_csrf":        {"请求被拒绝：表单已过期或来源不明。请返回页面重试。", "Refused: the form is stale or did not come from this console. Go back and try again."},
	"bad_form":        {"表单无法读取。", "The form could not be read."},
	"back":            {"返回", "Back"},
	"no_text":         {"尚未发送。", "Not sent yet."},
	"lang_switch":     {"English", "中文"},
	"kind_run":        {"检查", "run"},
	"kind_transition": {"状态变化", "transition"},
	"kind_notice":     {"通知", "notice"},
	"kind_attempt":    {"投递", "delivery"},
	"kind_audit":      {"操作", "action"},
	"total_shown":     {"共 %d 条，显示前 %d 条", "%d in all, the first %d shown"},
	"age":             {"时长", "Age"},
	"ns_queued":       {"排队中", "queued"},
	"ns_sending":      {"发送中", "sending"},
	"ns_held":         {"暂缓", "held"},
	"ns_delivered":    {"已送达", "delivered"},
	"ns_dead":         {"失败", "dead"},
	"ns_dropped":      {"已丢弃", "dropped"},
}

func translator(lang string) func(key string, args ...any) string {
	i := 0
	if lang == "en" {
		i = 1
	}
	return func(key string, args ...any) string {
		m, ok := messages[key]
		if !ok {
			return key
		}
		if len(args) > 0 {
			return fmt.Sprintf(m[i], args...)
		}
		return m[i]
	}
}

var funcs = template.FuncMap{
	// when is a time as people here read it: Asia/Shanghai.
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.In(dossier.Shanghai).Format("2006-01-02 15:04:05")
	},
	"age": func(d time.Duration) string {
		switch {
		case d < time.Minute:
			return d.Round(time.Second).String()
		case d < 48*time.Hour:
			return d.Round(time.Minute).String()
		default:
			return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
		}
	},
	"mask":  dossier.Mask,
	"inc":   func(i int) int { return i + 1 },
	"join":  strings.Join,
	"lower": strings.ToLower,
}
