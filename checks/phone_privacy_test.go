package checks

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/beianwatch/beianwatch/internal/syncbuf"
)

// TestPhoneStatusUnknownStatusHidesToken: a provider (or a local adapter)
// that answers with a status we do not know has it quoted in the error,
// which reaches logs, stored results and the API. Adapters that echo the
// request put the bearer token and the number there.
func TestPhoneStatusUnknownStatusHidesToken(t *testing.T) {
	const number = "+8613812345678"
	tests := []struct {
		name   string
		status string
	}{
		{"echoed header", "weird Bearer " + testPhoneToken},
		{"token alone", testPhoneToken},
		{"token near the quoting limit", strings.Repeat("x", 30) + testPhoneToken},
		{"token and number", "unknown number " + number + " auth " + testPhoneToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := json.Marshal(map[string]string{"status": tt.status})
			if err != nil {
				t.Fatal(err)
			}
			fp := newFakePhoneProvider(t, func(string, *http.Request) (int, string) { return http.StatusOK, string(body) })
			var logs syncbuf.Buffer
			c := newTestStatusClient(t, fp.srv.URL, nil, nil, nil,
				WithPhoneLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			_, err = c.Lookup(context.Background(), number)
			if err == nil {
				t.Fatalf("status %q was accepted", tt.status)
			}
			if !strings.Contains(err.Error(), "unknown status") {
				t.Errorf("error %q does not say the status was unknown", err)
			}
			for what, text := range map[string]string{"error": err.Error(), "log": logs.String()} {
				// Any 8 consecutive characters of the token would let
				// someone narrow it down; none may show.
				for i := 0; i+8 <= len(testPhoneToken); i++ {
					if part := testPhoneToken[i : i+8]; strings.Contains(text, part) {
						t.Errorf("%s shows %q of the token: %s", what, part, text)
						break
					}
				}
				if strings.Contains(text, "13812345678") {
					t.Errorf("%s shows the whole number: %s", what, text)
				}
			}
		})
	}
}
