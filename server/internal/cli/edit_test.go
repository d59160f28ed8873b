package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClientUpdateRemove(t *testing.T) {
	_, env := newStateDir(t)
	mustRun(t, env, "init")
	mustRun(t, env, "client", "add", "--id", "shop", "--subject-dn", "CN=shop,O=Example")
	r := runMain(t, env, "", "client", "add", "--id", "copy", "--subject-dn", "cn=SHOP, o=example")
	if r.code != exitError || !strings.Contains(r.stderr, "already registered to client shop") || strings.Contains(r.stderr, "registry:") {
		t.Fatalf("second client with the same DN: exit %d: %s", r.code, r.stderr)
	}
	mustRun(t, env, "client", "add", "--id", "copy", "--subject-dn", "CN=copy")
	r = runMain(t, env, "", "client", "update", "--id", "copy", "--subject-dn", "CN=shop,O=Example")
	if r.code != exitError || !strings.Contains(r.stderr, "already registered to client shop") {
		t.Fatalf("update to a taken DN: exit %d: %s", r.code, r.stderr)
	}
	for _, args := range [][]string{{"--id", "shop"}, {"--id", "shop", "--log-format", "json"}} {
		if r := runMain(t, env, "", append([]string{"client", "update"}, args...)...); r.code != exitUsage || !strings.Contains(r.stderr, "nothing to change") {
			t.Fatalf("update %v without changes: exit %d: %s", args, r.code, r.stderr)
		}
	}
	if r := runMain(t, env, "", "client", "update", "--id", "shop", "--delivery-mode", "ping"); r.code != exitUsage || !strings.Contains(r.stderr, "https") {
		t.Fatalf("ping without endpoint: exit %d: %s", r.code, r.stderr)
	}
	mustRun(t, env, "client", "update", "--id", "shop", "--delivery-mode", "ping", "--notification-endpoint", "https://shop.example/cb")
	list := mustRun(t, env, "client", "list", "--json").stdout
	if !strings.Contains(list, `"backchannel_client_notification_endpoint": "https://shop.example/cb"`) && !strings.Contains(list, `"backchannel_client_notification_endpoint":"https://shop.example/cb"`) {
		t.Fatalf("update not seen in the list:\n%s", list)
	}
	mustRun(t, env, "client", "update", "--id", "shop", "--authorization-details-types", "payment_initiation,account_information")
	if list := mustRun(t, env, "client", "list", "--json").stdout; !strings.Contains(strings.Join(strings.Fields(list), ""), `"authorization_details_types":["payment_initiation","account_information"]`) {
		t.Fatalf("authorization_details_types not updated:\n%s", list)
	}
	if r := runMain(t, env, "", "client", "update", "--id", "shop", "--authorization-details-types", "bad type"); r.code == 0 {
		t.Fatalf("a malformed type was accepted: %s", r.stdout)
	}
	mustRun(t, env, "client", "update", "--id", "shop", "--authorization-details-types", "")
	if list := mustRun(t, env, "client", "list", "--json").stdout; strings.Contains(list, "authorization_details_types") {
		t.Fatalf("authorization_details_types not cleared:\n%s", list)
	}
	mustRun(t, env, "client", "remove", "--id", "shop")
	if r := runMain(t, env, "", "client", "remove", "--id", "shop"); r.code != exitError || !strings.Contains(r.stderr, `client "shop": not found`) {
		t.Fatalf("remove twice: exit %d: %s", r.code, r.stderr)
	}
	// The DN is free again.
	mustRun(t, env, "client", "update", "--id", "copy", "--subject-dn", "CN=shop,O=Example")
}

func TestUserUpdateRemoveAndCARemove(t *testing.T) {
	_, env := newStateDir(t)
	mustRun(t, env, "init")
	pw := writeFile(t, filepath.Join(t.TempDir(), "pw"), "new-password\n")
	mustRun(t, env, "user", "update", "--id", "user", "--password-file", pw)
	if r := runMain(t, env, "", "user", "update", "--id", "ghost", "--password-file", pw); r.code != exitError {
		t.Fatalf("update unknown user: exit %d", r.code)
	}
	mustRun(t, env, "user", "remove", "--id", "user")
	if !strings.Contains(mustRun(t, env, "user", "list").stdout, "ID") || strings.Contains(mustRun(t, env, "user", "list").stdout, "\nuser ") {
		t.Fatal("removed user still listed")
	}
	mustRun(t, env, "ca", "create", "--name", "partner")
	if r := runMain(t, env, "", "ca", "remove", "--name", "default"); r.code != exitUsage {
		t.Fatalf("removing the default CA: exit %d", r.code)
	}
	mustRun(t, env, "ca", "remove", "--name", "partner")
	if strings.Contains(mustRun(t, env, "ca", "list").stdout, "partner") {
		t.Fatal("removed CA still listed")
	}
}

func TestCertIssueForceAndCALifetime(t *testing.T) {
	_, env := newStateDir(t)
	mustRun(t, env, "init")
	env[envCertPassword] = "pw"
	out := filepath.Join(t.TempDir(), "c.p12")
	mustRun(t, env, "cert", "issue", "--client", "cibaConformance", "--out", out)
	before, _ := os.ReadFile(out)
	r := runMain(t, env, "", "cert", "issue", "--client", "cibaConformance", "--out", out)
	if r.code != exitUsage || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("overwrite without --force: exit %d: %s", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Fatal("the refused issue changed --out")
	}
	mustRun(t, env, "cert", "issue", "--client", "cibaConformance", "--out", out, "--force")
	r = runMain(t, env, "", "cert", "issue", "--client", "cibaConformance", "--out", out, "--force", "--validity", "100000h")
	if r.code != exitError || !strings.Contains(r.stderr, "outlive its certificate authority") {
		t.Fatalf("a certificate outliving its CA: exit %d: %s", r.code, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	r := mustRun(t, nil, "--version")
	if !strings.HasPrefix(r.stdout, "ciba-op ") || !strings.Contains(r.stdout, " go1.") {
		t.Fatalf("--version: %q", r.stdout)
	}
}

// With --json anywhere, a usage mistake still prints one JSON document.
func TestJSONOnUsageMistakes(t *testing.T) {
	_, env := newStateDir(t)
	for _, args := range [][]string{
		{"client", "list", "--bogus", "--json"},
		{"client", "lsit", "--json"},
		{"nonsense", "--json"},
	} {
		r := runMain(t, env, "", args...)
		if r.code != exitUsage {
			t.Fatalf("%v: exit %d", args, r.code)
		}
		var doc map[string]string
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc["error"] != "usage" {
			t.Errorf("%v: stdout %q is not one usage document (%v)", args, r.stdout, err)
		}
	}
}

// Next steps are commands to copy: the programs from bin/ (as the README
// builds them), next to ciba-op when it ran by a path, by name from PATH.
func TestNextStepsAreCommands(t *testing.T) {
	_, env := newStateDir(t)
	mustRun(t, env, "init")
	out := mustRun(t, env, "client", "add", "--id", "shop").stdout
	if !strings.Contains(out, "\n  bin/ciba-op cert issue --client shop --out shop.p12 --password-file shop.pass --state-dir ") ||
		!strings.Contains(out, "\n  (umask 077; head -c 18 /dev/urandom | base64 > shop.pass)\n") {
		t.Fatalf("client add next steps:\n%s", out)
	}
	for program, want := range map[string]string{
		"":                       "bin/ciba-client",
		"ciba-op":                "ciba-client",
		"./ciba-op":              "./ciba-client",
		"bin/ciba-op":            "bin/ciba-client",
		"/opt/my tools/ciba-op":  "'/opt/my tools/ciba-client'",
		"../cibalab/bin/ciba-op": "../cibalab/bin/ciba-client",
	} {
		if got := (Env{Program: program}).bin("ciba-client"); got != want {
			t.Errorf("Program %q: bin = %q, want %q", program, got, want)
		}
	}
}
