package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/dynkv/dynkv/node"
)

// TestServeFlagsFromEnv: every serve flag can come from DYNKV_<FLAG>; the
// command line wins; a bad value is an error naming the variable.
func TestServeFlagsFromEnv(t *testing.T) {
	parse := func(args []string, env map[string]string) (node.Config, error) {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		cfg := node.DefaultConfig()
		var lv, lf string
		serveFlags(fs, &cfg, &lv, &lf)
		if err := fs.Parse(args); err != nil {
			return cfg, err
		}
		return cfg, applyEnv(fs, func(k string) string { return env[k] })
	}
	cfg, err := parse([]string{"--name", "cli"}, map[string]string{
		"DYNKV_NAME": "env", "DYNKV_DATA_DIR": "/d", "DYNKV_JOIN": "a:1,b:2", "DYNKV_HINTED_HANDOFF": "false", "DYNKV_N": "5",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "cli" || cfg.DataDir != "/d" || len(cfg.Join) != 2 || cfg.HintedHandoff || cfg.N != 5 {
		t.Fatalf("config from env: %+v", cfg)
	}
	if _, err := parse(nil, map[string]string{"DYNKV_R": "two"}); err == nil || !strings.Contains(err.Error(), "DYNKV_R") {
		t.Fatalf("bad env value: %v", err)
	}
}

// TestServeRefusesBadConfig: serve exits 2 on bad flags and 1 with a clear
// message when the configuration is invalid, before binding anything.
func TestServeRefusesBadConfig(t *testing.T) {
	var out, errb strings.Builder
	if code := run(t.Context(), []string{"serve", "--no-such-flag"}, nil, &out, &errb); code != 2 {
		t.Fatalf("unknown flag: exit %d", code)
	}
	errb.Reset()
	code := run(t.Context(), []string{"serve", "--name", "n1", "--data-dir", t.TempDir(), "--r", "4"}, nil, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "--r must be between 1 and --n") {
		t.Fatalf("r above n: exit %d, %q", code, errb.String())
	}
}

// TestLogFlags: --log-format json writes one JSON object per line,
// --log-level drops what is below it, and bad values name the flag.
func TestLogFlags(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "warn", "json")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("dropped", "partition", 3)
	log.Warn("quorum failed", "partition", 17)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want only the warning at level warn, got %q", buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec["msg"] != "quorum failed" || rec["partition"] != 17.0 || rec["level"] != "WARN" {
		t.Fatalf("json line %q: %v %v", lines[0], rec, err)
	}
	buf.Reset()
	log, err = newLogger(&buf, "debug", "text")
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("read repair", "partition", 5)
	if got := buf.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "partition=5") {
		t.Fatalf("text line %q", got)
	}
	if _, err := newLogger(&buf, "loud", "text"); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("bad level error %v does not name --log-level", err)
	}
	if _, err := newLogger(&buf, "info", "xml"); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("bad format error %v does not name --log-format", err)
	}
}
