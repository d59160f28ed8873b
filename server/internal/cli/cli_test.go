package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/pki"
)

type result struct {
	code           int
	stdout, stderr string
}

// runMain runs Main with env as the whole environment (plus a cheap
// password hash) and stdin as standard input.
func runMain(t testing.TB, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	vars := map[string]string{envPasswordIterations: "2"}
	for k, v := range env {
		vars[k] = v
	}
	var out, errOut bytes.Buffer
	e := Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errOut,
		Getenv: func(k string) string { return vars[k] },
	}
	code := Main(context.Background(), args, e)
	return result{code, out.String(), errOut.String()}
}

// mustRun runs Main and fails unless it exits 0.
func mustRun(t testing.TB, env map[string]string, args ...string) result {
	t.Helper()
	r := runMain(t, env, "", args...)
	if r.code != 0 {
		t.Fatalf("ciba-op %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// newStateDir returns a state directory path (not yet created) and the
// environment that selects it.
func newStateDir(t testing.TB) (string, map[string]string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	return dir, map[string]string{envStateDir: dir}
}

func wantMode(t testing.TB, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}

func wantMissing(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists (%v), want nothing written", p, err)
		}
	}
}

func writeFile(t testing.TB, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// verifyWith checks that cert chains to the CA in caFile for client
// authentication.
func verifyWith(t testing.TB, cert *x509.Certificate, caFile string) error {
	t.Helper()
	pool, err := pki.CertPoolFromPEMFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		stdoutHas  []string
		stderrHas  []string
		stdoutNone bool
	}{
		{args: []string{"--help"}, code: 0, stdoutHas: []string{"EXIT CODES", "cert issue", "CIBA_OP_STATE_DIR", "CIBA_OP_PASSWORD_ITERATIONS"}},
		{args: []string{"help"}, code: 0, stdoutHas: []string{"COMMANDS"}},
		{args: nil, code: 2, stderrHas: []string{"USAGE"}, stdoutNone: true},
		{args: []string{"frobnicate"}, code: 2, stderrHas: []string{`unknown command "frobnicate"`}, stdoutNone: true},
		{args: []string{"init", "--help"}, code: 0, stdoutHas: []string{"--state-dir DIR", "[env CIBA_OP_STATE_DIR]", "EXIT CODES"}},
		{args: []string{"init", "-h"}, code: 0, stdoutHas: []string{"EXIT CODES"}},
		{args: []string{"ca", "create", "--help"}, code: 0, stdoutHas: []string{"--name NAME", "EXIT CODES"}},
		{args: []string{"ca", "list", "--help"}, code: 0, stdoutHas: []string{"--json", "EXIT CODES"}},
		{args: []string{"client", "add", "--help"}, code: 0, stdoutHas: []string{"--subject-dn DN", "--san-ip IP", "RFC 8705"}},
		{args: []string{"client", "list", "--help"}, code: 0, stdoutHas: []string{"--json"}},
		{args: []string{"cert", "issue", "--help"}, code: 0, stdoutHas: []string{"CIBA_OP_CERT_PASSWORD", "--insecure-empty-password", "--password-file FILE", "EXIT CODES"}},
		{args: []string{"user", "add", "--help"}, code: 0, stdoutHas: []string{"CIBA_OP_USER_PASSWORD", "EXIT CODES"}},
		{args: []string{"user", "list", "--help"}, code: 0, stdoutHas: []string{"EXIT CODES"}},
		{args: []string{"ca", "--help"}, code: 0, stdoutHas: []string{"ciba-op ca <create|remove|list>", "EXIT CODES"}},
		{args: []string{"ca"}, code: 2, stderrHas: []string{"missing subcommand"}, stdoutNone: true},
		{args: []string{"user", "delete"}, code: 2, stderrHas: []string{`unknown subcommand "delete"`}},
		{args: []string{"init", "--bogus"}, code: 2, stderrHas: []string{"flag provided but not defined: -bogus", "ciba-op init --help"}},
		{args: []string{"init", "extra"}, code: 2, stderrHas: []string{`unexpected argument "extra"`}},
		{args: []string{"client", "add"}, code: 2, stderrHas: []string{"--id is required"}},
		{args: []string{"cert", "issue", "--out", "x.p12"}, code: 2, stderrHas: []string{"--client is required"}},
		{args: []string{"cert", "issue", "--client", "x"}, code: 2, stderrHas: []string{"--out is required"}},
		{args: []string{"cert", "issue", "--client", "x", "--out", "x.p12", "--validity", "soon"}, code: 2, stderrHas: []string{"invalid value"}},
		{args: []string{"user", "add"}, code: 2, stderrHas: []string{"--id is required"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, env := newStateDir(t)
			r := runMain(t, env, "", tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.stdoutHas {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			if tt.stdoutNone && r.stdout != "" {
				t.Errorf("stdout not empty: %s", r.stdout)
			}
		})
	}
}

func TestInit(t *testing.T) {
	dir, env := newStateDir(t)
	r := mustRun(t, nil, "init", "--state-dir", dir)
	for _, s := range []string{
		"created certificate authority default (ECDSA P-256): " + filepath.Join(dir, "cas", "default", "ca.pem"),
		"created server certificate for localhost, 127.0.0.1, ::1",
		"created token signing key RS256",
		"created client cibaConformance",
		"created user user",
		"created client credentials for cibaConformance",
		"ciba-op serve --state-dir " + dir,
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	p := func(rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }
	wantMode(t, dir, 0o700)
	for _, rel := range []string{"cas/default/ca-key.pem", "server/server-key.pem", "keys/rs256.pem", "keys/es256.pem",
		"users.json", "clients/cibaConformance.p12", "clients/cibaConformance.p12.pass", "clients/cibaConformance-key.pem"} {
		wantMode(t, p(rel), 0o600)
	}
	pass, err := readPasswordFile(p("clients/cibaConformance.p12.pass"))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := pki.LoadPKCS12File(p("clients/cibaConformance.p12"), pass)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyWith(t, tc.Leaf, p("ca.pem")); err != nil {
		t.Errorf("default client certificate: %v", err)
	}

	// The second run, through the environment this time, creates nothing.
	again := mustRun(t, env, "init")
	if strings.Contains(again.stdout, "created") || !strings.Contains(again.stdout, "Nothing to create") {
		t.Errorf("second init:\n%s", again.stdout)
	}
	if tc2, err := pki.LoadPKCS12File(p("clients/cibaConformance.p12"), pass); err != nil || !tc2.Leaf.Equal(tc.Leaf) {
		t.Errorf("second init replaced the client credentials (%v)", err)
	}
}

func TestInitHosts(t *testing.T) {
	dir, env := newStateDir(t)
	env["CIBA_OP_SERVER_HOSTS"] = "op.test, 10.1.2.3"
	mustRun(t, env, "init")
	d, err := registry.Open(dir, registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := d.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Leaf.DNSNames) != 1 || sc.Leaf.DNSNames[0] != "op.test" || len(sc.Leaf.IPAddresses) != 1 || sc.Leaf.IPAddresses[0].String() != "10.1.2.3" {
		t.Errorf("server certificate names: %v %v", sc.Leaf.DNSNames, sc.Leaf.IPAddresses)
	}
	if r := runMain(t, env, "", "init", "--hosts", " , "); r.code != 2 {
		t.Errorf("empty --hosts: exit %d", r.code)
	}
}

func TestStateDirPrecedence(t *testing.T) {
	fromEnv, env := newStateDir(t)
	fromFlag := filepath.Join(t.TempDir(), "flag")
	mustRun(t, env, "client", "add", "--id", "app", "--state-dir", fromFlag)
	wantMissing(t, fromEnv)
	if _, err := os.Stat(filepath.Join(fromFlag, "clients.json")); err != nil {
		t.Errorf("flag state dir not used: %v", err)
	}
	mustRun(t, env, "client", "add", "--id", "app")
	if _, err := os.Stat(filepath.Join(fromEnv, "clients.json")); err != nil {
		t.Errorf("environment state dir not used: %v", err)
	}
}

func TestPasswordIterationsKnob(t *testing.T) {
	_, env := newStateDir(t)
	env[envPasswordIterations] = "many"
	r := runMain(t, env, "", "client", "list")
	if r.code != 2 || !strings.Contains(r.stderr, envPasswordIterations) {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
}

func TestCertIssue(t *testing.T) {
	dir, env := newStateDir(t)
	mustRun(t, env, "init")
	mustRun(t, env, "ca", "create", "--name", "team")
	mustRun(t, env, "client", "add", "--id", "app", "--subject-dn", "CN=app,O=Acme")
	tmp := t.TempDir()
	pwFile := writeFile(t, filepath.Join(tmp, "pw"), "s3cret\n")

	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		password string // to open the PKCS#12 with
		caFile   string
		stderr   string
	}{
		{name: "no password", args: []string{"--client", "app"}, code: 2, stderr: envCertPassword},
		{name: "missing password file", args: []string{"--client", "app", "--password-file", filepath.Join(tmp, "nope")}, code: 1, stderr: "cannot read password file"},
		{name: "password file", args: []string{"--client", "app", "--password-file", pwFile}, password: "s3cret", caFile: filepath.Join(dir, "ca.pem")},
		{name: "password from environment", env: map[string]string{envCertPassword: "from-env"}, args: []string{"--client", "app"}, password: "from-env", caFile: filepath.Join(dir, "ca.pem")},
		{name: "password file beats environment", env: map[string]string{envCertPassword: "from-env"}, args: []string{"--client", "app", "--password-file", pwFile}, password: "s3cret", caFile: filepath.Join(dir, "ca.pem")},
		{name: "insecure empty password", args: []string{"--client", "app", "--insecure-empty-password"}, password: "", caFile: filepath.Join(dir, "ca.pem"), stderr: "empty password"},
		{name: "other CA", args: []string{"--client", "app", "--ca", "team", "--password-file", pwFile}, password: "s3cret", caFile: filepath.Join(dir, "cas", "team", "ca.pem")},
		{name: "unknown client", args: []string{"--client", "ghost", "--password-file", pwFile}, code: 1, stderr: "not found"},
		{name: "unknown CA", args: []string{"--client", "app", "--ca", "nope", "--password-file", pwFile}, code: 1, stderr: "not found"},
		{name: "negative validity", args: []string{"--client", "app", "--validity", "-1h", "--password-file", pwFile}, code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{envStateDir: dir}
			for k, v := range tt.env {
				vars[k] = v
			}
			out := filepath.Join(t.TempDir(), "app.p12")
			r := runMain(t, vars, "", append([]string{"cert", "issue", "--out", out}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr lacks %q: %s", tt.stderr, r.stderr)
			}
			if tt.code != 0 {
				if strings.Count(strings.TrimSpace(r.stderr), "\n") > 1 {
					t.Errorf("error is not short: %s", r.stderr)
				}
				wantMissing(t, out)
				return
			}
			wantMode(t, out, 0o600)
			tc, err := pki.LoadPKCS12File(out, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyWith(t, tc.Leaf, tt.caFile); err != nil {
				t.Errorf("verify: %v", err)
			}
			if got := tc.Leaf.Subject.String(); got != "CN=app,O=Acme" {
				t.Errorf("subject %q", got)
			}
			for _, s := range []string{"subject:    CN=app,O=Acme", "x5t#S256:   " + pki.ThumbprintS256(tc.Leaf), "wrote:      " + out} {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			wantMissing(t, strings.TrimSuffix(out, ".p12")+".pem")
		})
	}
}

func TestCertIssuePEM(t *testing.T) {
	_, env := newStateDir(t)
	env[envCertPassword] = "pw"
	mustRun(t, env, "init")
	mustRun(t, env, "client", "add", "--id", "dev", "--san-dns", "dev.example")
	out := filepath.Join(t.TempDir(), "dev.p12")
	mustRun(t, env, "cert", "issue", "--client", "dev", "--out", out, "--pem")
	base := strings.TrimSuffix(out, ".p12")
	wantMode(t, out, 0o600)
	wantMode(t, base+"-key.pem", 0o600)
	wantMode(t, base+".pem", 0o644)
	pair, err := pki.LoadPEMKeyPair(base+".pem", base+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	p12, err := pki.LoadPKCS12File(out, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if !pair.Leaf.Equal(p12.Leaf) {
		t.Error("PEM and PKCS#12 hold different certificates")
	}
	if len(pair.Leaf.DNSNames) != 1 || pair.Leaf.DNSNames[0] != "dev.example" || pair.Leaf.Subject.CommonName != "dev" {
		t.Errorf("certificate names: %q %v", pair.Leaf.Subject, pair.Leaf.DNSNames)
	}
}

func TestClientAdd(t *testing.T) {
	dir, env := newStateDir(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"default subject", []string{"--id", "app", "--name", "My App"}, 0, "registered client app (tls_client_auth, subject CN=app, poll mode)", ""},
		{"san ip", []string{"--id", "ip-client", "--san-ip", "::1"}, 0, "san_ip ::1", ""},
		{"ping", []string{"--id", "pinger", "--san-uri", "spiffe://x/p", "--delivery-mode", "ping", "--notification-endpoint", "https://client.example/cb"}, 0, "ping mode", ""},
		{"duplicate", []string{"--id", "app"}, 1, "", "already exists"},
		{"two identifiers", []string{"--id", "two", "--subject-dn", "CN=two", "--san-dns", "two.example"}, 2, "", "exactly one"},
		{"ping without endpoint", []string{"--id", "p2", "--delivery-mode", "ping"}, 2, "", "https"},
		{"bad mode", []string{"--id", "p3", "--delivery-mode", "pull"}, 2, "", "poll, ping or push"},
		{"bad id", []string{"--id", "a b"}, 2, "", "client_id"},
		{"bad dn", []string{"--id", "d", "--subject-dn", "X=1"}, 2, "", "subject_dn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runMain(t, env, "", append([]string{"client", "add"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s (want %q)\nstderr: %s (want %q)", r.code, tt.code, r.stdout, tt.stdout, r.stderr, tt.stderr)
			}
		})
	}
	list := mustRun(t, env, "client", "list")
	lines := strings.Split(strings.TrimSpace(list.stdout), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^ID\s+SUBJECT\s+DELIVERY MODE$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^app\s+subject CN=app\s+poll$`).MatchString(lines[1]) {
		t.Errorf("client list:\n%s", list.stdout)
	}
	var clients []registry.Client
	if err := json.Unmarshal([]byte(mustRun(t, env, "client", "list", "--json").stdout), &clients); err != nil {
		t.Fatal(err)
	}
	if len(clients) != 3 || clients[0].ID != "app" || clients[0].Name != "My App" || clients[2].NotificationEndpoint != "https://client.example/cb" {
		t.Errorf("client list --json: %+v", clients)
	}

	// A corrupt clients.json: a one-line error, and with --json one JSON document.
	writeFile(t, filepath.Join(dir, "clients.json"), "{")
	r := runMain(t, env, "", "client", "list", "--json")
	var doc map[string]string
	if r.code != 1 || json.Unmarshal([]byte(r.stdout), &doc) != nil || doc["error"] == "" || !strings.Contains(r.stderr, "clients.json") {
		t.Errorf("corrupt clients.json: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := runMain(t, env, "", "client", "add", "--id", "late"); r.code != 1 {
		t.Errorf("add over a corrupt file: exit %d", r.code)
	}
}

func TestClientAddSeenByOpenDir(t *testing.T) {
	dir, env := newStateDir(t)
	mustRun(t, env, "init")
	d, err := registry.Open(dir, registry.Config{PasswordIterations: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Clients(); err != nil { // fill the cache
		t.Fatal(err)
	}
	if _, err := d.Client("late"); err == nil {
		t.Fatal("client exists before it is added")
	}
	mustRun(t, env, "client", "add", "--id", "late")
	mustRun(t, env, "user", "add", "--id", "alice", "--password-file", writeFile(t, filepath.Join(t.TempDir(), "pw"), "pw"))
	if _, err := d.Client("late"); err != nil {
		t.Errorf("client added by the CLI is not seen by an open Dir: %v", err)
	}
	if _, err := d.Authenticate("alice", "pw"); err != nil {
		t.Errorf("user added by the CLI is not seen by an open Dir: %v", err)
	}
}

func TestUserAdd(t *testing.T) {
	dir, env := newStateDir(t)
	tmp := t.TempDir()
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{"password file", nil, []string{"--id", "alice", "--name", "Alice", "--email", "alice@example.org", "--password-file", writeFile(t, filepath.Join(tmp, "a"), "alice-pw\r\n")}, 0, ""},
		{"environment", map[string]string{envUserPassword: "bob-pw"}, []string{"--id", "bob"}, 0, ""},
		{"no password, no terminal", nil, []string{"--id", "carol"}, 2, envUserPassword},
		{"missing password file", nil, []string{"--id", "dave", "--password-file", filepath.Join(tmp, "nope")}, 1, "cannot read password file"},
		{"empty password file", nil, []string{"--id", "erin", "--password-file", writeFile(t, filepath.Join(tmp, "e"), "\n")}, 2, "empty password"},
		{"duplicate", map[string]string{envUserPassword: "x"}, []string{"--id", "alice"}, 1, "already exists"},
		{"bad id", map[string]string{envUserPassword: "x"}, []string{"--id", "a b"}, 1, "user id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{envStateDir: dir}
			for k, v := range tt.env {
				vars[k] = v
			}
			r := runMain(t, vars, "typed\n", append([]string{"user", "add"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", r.code, tt.code, r.stderr, tt.stderr)
			}
		})
	}
	d, err := registry.Open(dir, registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for id, pw := range map[string]string{"alice": "alice-pw", "bob": "bob-pw"} {
		if _, err := d.Authenticate(id, pw); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	users, _ := d.Users()
	if len(users) != 2 {
		t.Errorf("users %+v, want alice and bob only", users)
	}
	wantMode(t, filepath.Join(dir, "users.json"), 0o600)

	r := mustRun(t, env, "user", "list", "--json")
	if strings.Contains(r.stdout, "password") || strings.Contains(r.stdout, "pbkdf2") {
		t.Errorf("user list shows password hashes:\n%s", r.stdout)
	}
	var list []userInfo
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 2 || list[0].ID != "alice" || list[0].Email != "alice@example.org" {
		t.Errorf("user list --json: %+v %v", list, err)
	}
	table := mustRun(t, env, "user", "list").stdout
	if !regexp.MustCompile(`(?m)^alice\s+Alice\s+alice@example.org\s+`).MatchString(table) || strings.Contains(table, "pbkdf2") {
		t.Errorf("user list:\n%s", table)
	}
}

func TestCA(t *testing.T) {
	_, env := newStateDir(t)
	if r := runMain(t, env, "", "ca", "list", "--json"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("empty ca list --json: exit %d %q", r.code, r.stdout)
	}
	r := mustRun(t, env, "ca", "create")
	if !strings.Contains(r.stdout, "created certificate authority default") || !strings.Contains(r.stdout, "CN=cibalab default CA,O=cibalab") {
		t.Errorf("ca create:\n%s", r.stdout)
	}
	mustRun(t, env, "ca", "create", "--name", "team")
	if r := runMain(t, env, "", "ca", "create", "--name", "team"); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("duplicate CA: exit %d %s", r.code, r.stderr)
	}
	if r := runMain(t, env, "", "ca", "create", "--name", "../x"); r.code == 0 {
		t.Error("CA name with a slash accepted")
	}
	list := mustRun(t, env, "ca", "list").stdout
	fp := `([0-9A-F]{2}:){31}[0-9A-F]{2}`
	if !regexp.MustCompile(`(?m)^NAME\s+SUBJECT\s+NOT AFTER\s+SHA-256 FINGERPRINT$`).MatchString(list) ||
		!regexp.MustCompile(`(?m)^default\s+CN=cibalab default CA,O=cibalab\s+\d{4}-\d{2}-\d{2}\s+`+fp+`$`).MatchString(list) ||
		!regexp.MustCompile(`(?m)^team\s+CN=cibalab team CA`).MatchString(list) {
		t.Errorf("ca list:\n%s", list)
	}
	var infos []caInfo
	if err := json.Unmarshal([]byte(mustRun(t, env, "ca", "list", "--json").stdout), &infos); err != nil || len(infos) != 2 || infos[1].Name != "team" {
		t.Fatalf("ca list --json: %+v %v", infos, err)
	}
	if !regexp.MustCompile("^" + fp + "$").MatchString(infos[0].Fingerprint) {
		t.Errorf("fingerprint %q", infos[0].Fingerprint)
	}
}
