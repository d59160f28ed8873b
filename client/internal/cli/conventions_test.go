package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/client/internal/cli"
	"github.com/cibalab/cibalab/client/internal/fakeop"
)

func TestVersion(t *testing.T) {
	var stdout bytes.Buffer
	if code := cli.Main(context.Background(), []string{"--version"}, nil, &stdout, nil, nil); code != cli.ExitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.HasPrefix(stdout.String(), "ciba-client ") || !strings.Contains(stdout.String(), " go1.") {
		t.Fatalf("--version: %q", stdout.String())
	}
}

// Usage mistakes exit 2, with one line on stderr and, with --json, one
// JSON document on stdout; nothing reaches the OP.
func TestUsageMistakes(t *testing.T) {
	h := newHarness(t, fakeop.Config{})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"issuer without scheme", []string{"--issuer", "localhost:5001/master"}, "not an https URL"},
		{"issuer with a bad port", []string{"--issuer", "https://localhost:99999/master"}, "port"},
		{"issuer with a query", []string{"--issuer", "https://localhost:5001/master?x=1"}, "query"},
		{"PEM given to --cert", []string{"--cert", h.files.CertPEM}, "--cert-pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, asJSON := range []bool{false, true} {
				args := h.args(tc.args...)
				if asJSON {
					args = append(args, "--json")
				}
				res := h.run(t, context.Background(), args...)
				if res.code != cli.ExitUsage {
					t.Fatalf("exit %d, want %d\n%s", res.code, cli.ExitUsage, res.stderr)
				}
				if !strings.Contains(res.stderr, tc.want) {
					t.Errorf("stderr %q lacks %q", res.stderr, tc.want)
				}
				if asJSON {
					assertOneJSON(t, res.stdout)
					if !strings.Contains(res.stdout, `"error":"usage"`) {
						t.Errorf("stdout %s", res.stdout)
					}
				} else if res.stdout != "" {
					t.Errorf("stdout %q, want nothing", res.stdout)
				}
			}
		})
	}
	if n := len(h.op.Requests("")); n != 0 {
		t.Errorf("%d requests reached the OP after usage mistakes", n)
	}
	// A flag that does not parse, with --json before it.
	res := h.run(t, context.Background(), "--json", "--no-such-flag")
	if res.code != cli.ExitUsage {
		t.Fatalf("unknown flag: exit %d", res.code)
	}
	assertOneJSON(t, res.stdout)
}
