package config

import (
	"errors"
	"strings"
	"testing"
)

// TestWrongShapeDoesNotEchoSecrets: a webhook URL or a token written where
// a mapping or list belongs (the ops channel given as its URL, the API
// section given as the token) is reported with file, line and key, but
// the value is not quoted back whole: webhook URLs carry their access
// token in the path or query.
func TestWrongShapeDoesNotEchoSecrets(t *testing.T) {
	const token = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	tests := []struct {
		name, yaml string
		line       int
		key, msg   string
		secret     string
	}{
		{"ops channel given as its URL", "provider:\n  ops_channel: https://oapi.dingtalk.com/robot/send?access_token=" + token + "\n",
			2, "provider.ops_channel", "expected a mapping", token},
		{"ops channel URL shown redacted", "provider:\n  ops_channel: https://hooks.slack.com/services/T000/B000/" + token + "\n",
			2, "provider.ops_channel", "https://hooks.slack.com/…", token},
		{"api section given as the token", "api: sk-live-" + token + "\n",
			1, "api", "expected a mapping", token},
		{"resolvers given as a token", "phone_api:\n  url: https://p.example.cn/\n  token_env: [" + token + "]\n",
			3, "phone_api.token_env", "expected a single value", token},
		{"provider ranges given as a URL", "provider:\n  ip_ranges: https://x.example.cn/" + token + "\n",
			2, "provider.ip_ranges", "expected a list", token},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "beianwatch.yaml", tt.yaml)
			_, err := Load(p)
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("want one error, got %v", err)
			}
			e := errs[0]
			if e.File != p || e.Line != tt.line || e.Key != tt.key || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("error {line %d, key %q, msg %q}, want {line %d, key %q, msg containing %q}", e.Line, e.Key, e.Msg, tt.line, tt.key, tt.msg)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error echoes the secret: %v", err)
			}
		})
	}
}
