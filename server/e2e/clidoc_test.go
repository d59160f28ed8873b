package e2e

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/shared/cliconv"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/cli.md from the programs' --help")

// helpPages are the commands whose --help makes up docs/cli.md.
var helpPages = [][]string{
	{"ciba-op"},
	{"ciba-op", "serve"},
	{"ciba-op", "watch"},
	{"ciba-op", "init"},
	{"ciba-op", "ca", "create"},
	{"ciba-op", "ca", "list"},
	{"ciba-op", "ca", "remove"},
	{"ciba-op", "client", "add"},
	{"ciba-op", "client", "update"},
	{"ciba-op", "client", "remove"},
	{"ciba-op", "client", "list"},
	{"ciba-op", "cert", "issue"},
	{"ciba-op", "user", "add"},
	{"ciba-op", "user", "update"},
	{"ciba-op", "user", "remove"},
	{"ciba-op", "user", "list"},
	{"ciba-op", "device", "list"},
	{"ciba-op", "device", "revoke"},
	{"ciba-op", "cluster", "keys"},
	{"ciba-client"},
	{"ciba-authenticator"},
	{"ciba-authenticator", "enroll"},
	{"ciba-authenticator", "list"},
	{"ciba-authenticator", "approve"},
	{"ciba-authenticator", "deny"},
}

// TestCLIReference keeps docs/cli.md equal to what the programs print for
// --help. After changing a flag, run: go test ./e2e -run CLIReference -update
func TestCLIReference(t *testing.T) {
	var b strings.Builder
	b.WriteString("# CLI reference\n\n")
	b.WriteString("Generated from each program's `--help` (`go test ./e2e -run CLIReference -update` in `server/`).\n")
	b.WriteString("A flag beats its environment variable, which beats the default.\n")
	b.WriteString("Each program prints its version, commit and Go version with `--version`.\n")
	b.WriteString("\n## Exit codes\n\n")
	b.WriteString("One table for the three programs: a code means the same wherever it is used.\n")
	b.WriteString("SIGINT (Ctrl-C) and SIGTERM end every program, `ciba-op serve` included, with 130.\n")
	b.WriteString("With `--json`, every outcome, failures included, prints exactly one JSON document on stdout\n")
	b.WriteString("(`ciba-authenticator` without a subcommand prints JSON Lines events, one per line).\n")
	b.WriteString("`go test ./e2e -run ExitCodes` in `server/` provokes each case.\n\n")
	b.WriteString(cliconv.Markdown())
	for _, page := range helpPages {
		cmd := exec.Command(bin(page[0]), append(page[1:], "--help")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s --help: %v\n%s", strings.Join(page, " "), err, out)
		}
		b.WriteString("\n## " + strings.Join(page, " ") + "\n\n```\n" + strings.TrimRight(string(out), "\n") + "\n```\n")
	}
	b.WriteString(logEventsSection(t))
	path := filepath.Join("..", "..", "docs", "cli.md")
	if *updateDocs {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != b.String() {
		t.Fatalf("docs/cli.md is out of date with the programs' --help; run: go test ./e2e -run CLIReference -update")
	}
}
