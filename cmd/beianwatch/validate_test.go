package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	const dir = "testdata/validate/"
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		system  string // the system-wide configuration; "" one that does not exist
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
		{
			// Nothing named and no system file: the built-in defaults,
			// which have no inventory.
			name: "no config: built-in defaults", args: nil, code: exitOK,
			stdout: []string{"(built-in defaults): no inventory", "watch 0 sites", "(built-in defaults): ok"},
		},
		{
			name: "$BEIANWATCH_CONFIG", args: nil, env: map[string]string{"BEIANWATCH_CONFIG": dir + "rejects.yaml"},
			code: exitRejected, stdout: []string{"2 inventory records rejected"},
		},
		{
			name: "the system file when it exists", args: nil, system: dir + "rejects.yaml",
			code: exitRejected, stdout: []string{"2 inventory records rejected"},
		},
		{
			name: "--config wins over the variable and the system file", args: []string{"--config", dir + "good.yaml"},
			env: map[string]string{"BEIANWATCH_CONFIG": dir + "broken.yaml"}, system: dir + "broken.yaml",
			code: exitOK, stdout: []string{dir + "good.yaml: ok"},
		},
		{
			// A typo in the variable must not fall back to the defaults.
			name: "$BEIANWATCH_CONFIG names a missing file", env: map[string]string{"BEIANWATCH_CONFIG": dir + "absent.yaml"},
			code: exitUsage, stderr: []string{"chosen by $BEIANWATCH_CONFIG", "absent.yaml"},
		},
		{name: "unexpected argument", args: []string{"x.yaml"}, code: exitUsage, stderr: []string{"unexpected arguments"}},
		{
			name:    "postgres, connection string variable unset",
			args:    []string{"--config", dir + "postgres.yaml"},
			env:     map[string]string{"VALIDATE_OWNER_SECRET": "s"},
			code:    exitOK,
			stdout:  []string{"storage.dsn_env names variable BEIANWATCH_DATABASE_URL, which is not set here", "postgres.yaml: ok"},
			without: []string{"postgres://"},
		},
		{
			name: "postgres, connection string set: never printed",
			args: []string{"--config", dir + "postgres.yaml"},
			env: map[string]string{"VALIDATE_OWNER_SECRET": "s",
				"BEIANWATCH_DATABASE_URL": "postgres://beianwatch:hunter2@db.example.cn/beianwatch"},
			code:    exitOK,
			stdout:  []string{"postgres.yaml: ok"},
			without: []string{"warning", "hunter2", "db.example.cn"},
		},
		{name: "config file missing", args: []string{"--config", dir + "absent.yaml"}, code: exitUsage, stderr: []string{"absent.yaml"}},
		{name: "unknown flag", args: []string{"--nope"}, code: exitUsage, stderr: []string{"nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			system := tt.system
			if system == "" {
				system = filepath.Join(t.TempDir(), "absent.yaml")
			}
			e := &env{stdout: &out, stderr: &errOut, getenv: func(k string) string { return tt.env[k] }, systemConfig: system}
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

// TestHelpListsExitStatuses: run and validate describe themselves and their
// exit statuses, as check does.
func TestHelpListsExitStatuses(t *testing.T) {
	for _, tt := range []struct {
		cmd  string
		want []string
	}{
		{"run", []string{"usage: beianwatch run", "The daemon", "$BEIANWATCH_CONFIG", "/etc/beianwatch/beianwatch.yaml",
			"--listen", "Exit status: 0", "2 usage or configuration error", "4 cannot listen", "5 store error"}},
		{"validate", []string{"usage: beianwatch validate", "without starting anything", "Exit status: 0 all good", "1 the configuration loads", "2 usage error"}},
	} {
		code, _, stderr := runCLI(tt.cmd, "--help")
		if code != exitOK {
			t.Errorf("%s --help: exit %d", tt.cmd, code)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s --help lacks %q:\n%s", tt.cmd, w, stderr)
			}
		}
	}
}
