package alerts

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// slackHook checks a request as Slack's incoming webhook does.
func slackHook(path string, got *[]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.Error(w, "no_service", http.StatusNotFound)
			return
		}
		var m struct {
			Text   string `json:"text"`
			Blocks []struct {
				Type string `json:"type"`
				Text struct{ Type, Text string }
			} `json:"blocks"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Text == "" || len(m.Blocks) == 0 || len(m.Blocks) > 50 {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		for i, b := range m.Blocks {
			switch {
			case i == 0 && (b.Type != "header" || b.Text.Type != "plain_text" || utf8.RuneCountInString(b.Text.Text) > 150):
				http.Error(w, "invalid_blocks", http.StatusBadRequest)
				return
			case i > 0 && (b.Type != "section" || b.Text.Type != "mrkdwn" || utf8.RuneCountInString(b.Text.Text) > 3000 || strings.ContainsAny(b.Text.Text, "<>")):
				http.Error(w, "invalid_blocks", http.StatusBadRequest)
				return
			}
			*got = append(*got, b.Text.Text)
		}
		_, _ = io.WriteString(w, "ok")
	}
}

func TestSlack(t *testing.T) {
	const path = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
	var got []string
	srv := httptest.NewServer(slackHook(path, &got))
	defer srv.Close()
	a, err := mustChannel(t, ChannelSlack, srv.URL+path, "", nil).Send(context.Background(), testRendered(t, Codes()...))
	if err != nil || a.Result != Delivered || a.Response != "ok" {
		t.Fatalf("%+v, %v", a, err)
	}
	all := strings.Join(got, "\n")
	if !strings.Contains(all, "&lt;a href=") || !strings.Contains(all, "ICP compliance notice") {
		t.Errorf("evidence not escaped or English missing")
	}
	a, err = mustChannel(t, ChannelSlack, srv.URL+"/services/T0/B0/gone", "", nil).Send(context.Background(), testRendered(t))
	if err == nil || a.Result != Permanent || a.StatusCode != 404 || !strings.Contains(a.Response, "no_service") {
		t.Errorf("gone hook: %+v, %v", a, err)
	}
}

// TestSlackConfig: the channel's own rules, as configuration validation
// applies them at load; every refusal names the part at fault and never
// echoes the URL's credential.
func TestSlackConfig(t *testing.T) {
	cases := []struct {
		name, url   string
		signed      bool
		field, want string // field "" means valid
	}{
		{"incoming webhook", "https://hooks.slack.com/services/T0/B0/SECRETTOKEN123", false, "", ""},
		{"a secret", "https://hooks.slack.com/services/T0/B0/SECRETTOKEN123", true, "secret", "no signing secret"},
		{"not a URL", "hooks.slack.com/services/T0/B0/SECRETTOKEN123", false, "url", "http or https"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkChannelConfig(t, ChannelSlack, tc.url, tc.signed, tc.field, tc.want)
		})
	}
}
