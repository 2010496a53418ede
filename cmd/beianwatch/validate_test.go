package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	const dir = "testdata/validate/"
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		code    int
		stdout  []string // each must appear
		stderr  []string
		without []string // must appear in neither
	}{
		{
			name: "good, every secret set",
			args: []string{"--config", dir + "good.yaml"},
			env: map[string]string{"VALIDATE_OPS_SECRET": "s", "VALIDATE_OWNER_SECRET": "s",
				"BEIANWATCH_API_TOKEN": "t"},
			code:    exitOK,
			stdout:  []string{dir + "good.yaml: ok"},
			without: []string{"warning", "rejected"},
		},
		{
			name:   "good, secrets missing here",
			args:   []string{"--config", dir + "good.yaml"},
			code:   exitOK,
			stdout: []string{"ops_channel.secret_env names variable VALIDATE_OPS_SECRET", "owner_secret_env VALIDATE_OWNER_SECRET (1 site) is not set", "good.yaml: ok"},
			// A warning names the variable, never a value.
			without: []string{"hooks.example.cn"},
		},
		{
			name: "rejected records",
			args: []string{"--config", dir + "rejects.yaml"},
			code: exitRejected,
			stdout: []string{"rejects.csv: line 3 (bad.example.cn): icp:", "rejects.csv: line 4 (example.cn): domain: duplicate domain",
				"2 inventory records rejected", "would skip the rejected records"},
		},
		{
			// The good record's contact is a phone number where it belongs:
			// validate prints nothing of it.
			name: "phone numbers in the wrong columns are masked",
			args: []string{"--config", dir + "phones.yaml"},
			code: exitRejected,
			stdout: []string{`line 3 (tag.example.cn): tags: tag "138****5678"`, `line 4 (status.example.cn): status: unknown status "138****5678"`,
				`line 5 (icp.example.cn): icp: malformed ICP number "138****5678"`, "line 6 (138****5678): domain:", "4 inventory records rejected"},
			without: []string{"13812345678"},
		},
		{
			name:    "configuration errors, each with line and key",
			args:    []string{"--config", dir + "broken.yaml"},
			code:    exitUsage,
			stderr:  []string{"broken.yaml:3: lifecycle.failure_threshold:", "broken.yaml:5: schedules.footer: bad cron spec"},
			without: []string{": ok"},
		},
		{
			name:    "inventory unreadable",
			args:    []string{"--config", dir + "missing-inventory.yaml"},
			code:    exitUsage,
			stderr:  []string{"no-such-file.csv"},
			without: []string{": ok"},
		},
		{name: "no config", args: nil, code: exitUsage, stderr: []string{"--config FILE is required"}},
		{name: "config file missing", args: []string{"--config", dir + "absent.yaml"}, code: exitUsage, stderr: []string{"absent.yaml"}},
		{name: "unknown flag", args: []string{"--nope"}, code: exitUsage, stderr: []string{"nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			e := &env{stdout: &out, stderr: &errOut, getenv: func(k string) string { return tt.env[k] }}
			code := cmdValidate(e, tt.args)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errOut.String())
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errOut.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut.String())
				}
			}
			for _, s := range tt.without {
				if strings.Contains(out.String()+errOut.String(), s) {
					t.Errorf("output has %q:\n%s%s", s, out.String(), errOut.String())
				}
			}
		})
	}
	// Through the command dispatcher too.
	if code, _, _ := runCLI("validate", "--config", dir+"rejects.yaml"); code != exitRejected {
		t.Errorf("beianwatch validate: exit %d, want %d", code, exitRejected)
	}
}
