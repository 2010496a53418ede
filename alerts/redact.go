package alerts

import (
	"net/url"
	"strings"
)

const redacted = "REDACTED"

// RedactURL shows a webhook URL without its secrets, for the API, logs and
// the audit trail: query values (DingTalk access_token, WeCom key,
// timestamp and sign), user info, the Feishu/Lark hook token, the Slack
// webhook secret and any other token-like path segment are replaced by
// REDACTED; scheme, host and the shape of the path stay, so an operator can
// still tell which receiver it is. A URL that does not parse is not echoed.
func RedactURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return "(unparseable URL)"
	}
	if u.User != nil {
		u.User = url.User(redacted)
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			for i := range vs {
				vs[i] = redacted
			}
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	segs := strings.Split(u.Path, "/")
	for i := range segs {
		if secretSegment(u, segs, i) {
			segs[i] = redacted
		}
	}
	u.Path = strings.Join(segs, "/")
	u.RawPath = ""
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// secretSegment reports whether path segment i (of u.Path split on "/") is
// a credential.
func secretSegment(u *url.URL, segs []string, i int) bool {
	seg := segs[i]
	if seg == "" {
		return false
	}
	afterHook := i > 0 && (segs[i-1] == "hook" || segs[i-1] == "hooks")
	return afterHook || looksLikeToken(seg) || isSlackSecret(u, segs, i)
}

// looksLikeToken tells a credential in a path from an ordinary name: long,
// and mixing letters with digits (UUIDs, random keys), where path words
// such as "notifications" or "v2" are short or all letters.
func looksLikeToken(seg string) bool {
	if len(seg) < 16 {
		return false
	}
	var letters, digits int
	for _, r := range seg {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			letters++
		}
	}
	return letters > 0 && digits > 0
}

// isSlackSecret: in hooks.slack.com/services/T…/B…/<secret> the last part
// is the credential even when it happens to be all letters.
func isSlackSecret(u *url.URL, segs []string, i int) bool {
	return strings.EqualFold(u.Hostname(), "hooks.slack.com") && i == len(segs)-1 && i >= 4 && segs[1] == "services"
}

// hookToken returns the Feishu/Lark custom-bot token: the path segment
// after ".../bot/v2/hook/".
func hookToken(u *url.URL) string {
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := 0; i+1 < len(segs); i++ {
		if segs[i] == "hook" && segs[i+1] != "" {
			return segs[i+1]
		}
	}
	return ""
}
