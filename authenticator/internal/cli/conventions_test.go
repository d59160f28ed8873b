package cli

import (
	"encoding/json"
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
