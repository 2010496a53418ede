package alerts

import (
	"context"
	"fmt"
	"strings"
)

// SlackChannel posts to a Slack incoming webhook with a header block and
// the notice as mrkdwn sections.
//
// Request format followed: Slack, "Sending messages using incoming
// webhooks" (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks)
// and the error changelog
// (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks):
// POST JSON {"text":…, "blocks":[…]} where text is the notification
// fallback; a header block's plain_text holds at most 150 characters, a
// section's text at most 3000, a message at most 50 blocks; in mrkdwn, &, <
// and > must be escaped. Success is HTTP 200 "ok"; errors are HTTP 400
// invalid_payload, 403 action_prohibited, 404 channel_not_found, 410
// channel_is_archived, 429 rate_limited, 500 rollup_error.
type SlackChannel struct{ s sender }

var _ Channel = (*SlackChannel)(nil)

// slackSpec: an incoming webhook, whose address is the credential; no
// signing.
func slackSpec() channelSpec {
	return channelSpec{
		secret:  secretRefused,
		refusal: "Slack incoming webhooks have no signing secret; leave it empty",
		build:   func(s sender) Channel { return &SlackChannel{s: s} },
	}
}

// Kind implements Channel.
func (c *SlackChannel) Kind() string { return ChannelSlack }

const (
	slackMaxHeader  = 150
	slackMaxSection = 3000
	slackMaxBlocks  = 50
)

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type string    `json:"type"`
	Text slackText `json:"text"`
}

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackSections splits text into section-sized chunks on line boundaries
// (cutting a single over-long line on a rune boundary).
func slackSections(text string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if strings.TrimSpace(cur.String()) != "" {
			out = append(out, strings.TrimRight(cur.String(), "\n"))
		}
		cur.Reset()
	}
	for _, line := range strings.Split(text, "\n") {
		line = slackEscape(line)
		for len([]rune(line)) > slackMaxSection {
			flush()
			r := []rune(line)
			out = append(out, string(r[:slackMaxSection]))
			line = string(r[slackMaxSection:])
		}
		if len([]rune(cur.String()))+len([]rune(line))+1 > slackMaxSection {
			flush()
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return out
}

// Send implements Channel.
func (c *SlackChannel) Send(ctx context.Context, r *Rendered) (Attempt, error) {
	s := c.s
	a := Attempt{NoticeID: r.Notice.ID}
	m := slackMessage{Text: r.Title}
	m.Blocks = append(m.Blocks, slackBlock{Type: "header", Text: slackText{Type: "plain_text", Text: truncateRunes(r.Title, slackMaxHeader)}})
	sections := slackSections(r.Text)
	if len(sections) > slackMaxBlocks-1 {
		sections = sections[:slackMaxBlocks-1]
		last := len(sections) - 1
		sections[last] = truncateRunes(sections[last], slackMaxSection-2) + "\n…"
	}
	for _, sec := range sections {
		m.Blocks = append(m.Blocks, slackBlock{Type: "section", Text: slackText{Type: "mrkdwn", Text: sec}})
	}
	body, err := marshalJSON(m)
	if err != nil {
		a.Channel, a.Target = s.kind, s.target
		return finish(&a, fmt.Errorf("slack: encode notice %s: %w", r.Notice.ID, err))
	}
	rp, err := s.post(ctx, &a, s.u, body, nil)
	if err != nil {
		return s.transportFailure(&a, err)
	}
	if decided, err := s.classifyHTTP(&a, rp); decided {
		return finish(&a, err)
	}
	return finish(&a, nil)
}
