package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	p := start(t, strings.NewReader(""), nil, "--version")
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	if out := p.stdout.String(); !strings.HasPrefix(out, "ciba-authenticator ") || !strings.Contains(out, " go1.") {
		t.Fatalf("--version: %q", out)
	}
}

// A usage mistake with --json still prints one JSON document on stdout.
func TestUsageMistakeWithJSON(t *testing.T) {
	p := start(t, strings.NewReader(""), nil, "list", "--json", "--auto", "maybe")
	if code := p.wait(t); code != ExitUsage {
		t.Fatalf("exit %d, want %d", code, ExitUsage)
	}
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(p.stdout.String()))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout %q: %v", p.stdout.String(), err)
	}
	if dec.More() {
		t.Fatalf("more than one JSON document: %q", p.stdout.String())
	}
	if doc["type"] != "error" || doc["exit_code"] != float64(ExitUsage) {
		t.Fatalf("document %v", doc)
	}
}

// The enroll hint is a command to copy: the program as the README builds
// it (or as it was invoked), with the flags that were given.
func TestEnrollHintIsACommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my device")
	for _, tc := range []struct{ program, want string }{
		{"", "bin/ciba-authenticator enroll --user alice --nats-url nats://127.0.0.1:1 --device-dir '" + dir + "'"},
		{"./ciba-authenticator", "./ciba-authenticator enroll --user alice"},
	} {
		var stdout, stderr bytes.Buffer
		code := MainAs(context.Background(), tc.program, []string{"list", "--user", "alice", "--nats-url", "nats://127.0.0.1:1", "--device-dir", dir},
			strings.NewReader(""), &stdout, &stderr, nil)
		if code != ExitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("program %q: exit %d, stderr %q lacks %q", tc.program, code, stderr.String(), tc.want)
		}
	}
}

// An auth_req_id is base64url: it may start with "-" and is still the
// request, not a flag.
func TestRequestIDStartingWithDash(t *testing.T) {
	o, _, err := parseFlags([]string{"deny", "-FT3i182f7vtqJ1Airyocxi1xgM", "--json"}, func(string) string { return "" })
	if err != nil || o.arg != "-FT3i182f7vtqJ1Airyocxi1xgM" || !o.json {
		t.Fatalf("parse: %+v, %v", o, err)
	}
	if _, _, err := parseFlags([]string{"deny", "--bogus"}, func(string) string { return "" }); err == nil {
		t.Fatal("deny --bogus parsed")
	}
	if _, _, err := parseFlags([]string{"approve", "--help"}, func(string) string { return "" }); err != errHelp {
		t.Fatalf("approve --help: %v", err)
	}
}

// approve and deny with --json print one document: the OP's answer.
func TestDecideOnePrintsOneJSONDocument(t *testing.T) {
	op := startOP(t)
	dir := enrolled(t, op, "")
	r := op.NewRequest("user", "x")
	p := start(t, strings.NewReader(""), only(op, dir), "deny", r.AuthReqID, "--json")
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, p.stderr)
	}
	dec := json.NewDecoder(strings.NewReader(p.stdout.String()))
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || dec.More() {
		t.Fatalf("stdout is not one JSON document (%v):\n%s", err, p.stdout)
	}
	if doc["type"] != EventDecisionAccepted || doc["verdict"] != "deny" {
		t.Fatalf("document %v", doc)
	}
}
