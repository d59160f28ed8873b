package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/pki"
)

// startNATS starts a NATS server on a random loopback port, with or
// without JetStream, and returns its URL.
func startNATS(t *testing.T, jetStream bool) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: jetStream, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL()
}

// registryKeyFile writes a registry key (base64, 0600) and returns its path.
func registryKeyFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "registry.key")
	if err := os.WriteFile(path, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestJetStreamRegistryTwoOPs runs two OPs on one JetStream registry: a
// client registered by an admin command with --nats-url is served by
// both, both publish the same signing keys, and its removal is seen by
// the running OPs at once.
func TestJetStreamRegistryTwoOPs(t *testing.T) {
	natsURL := startNATS(t, true)
	key := registryKeyFile(t)
	admin := map[string]string{envStateDir: filepath.Join(t.TempDir(), "admin"), envNATSURL: natsURL, envRegistryKeyFile: key}

	// Before any OP created it, an admin command finds no registry.
	if r := runMain(t, admin, "", "client", "list"); r.code != exitError || !strings.Contains(r.stderr, "no registry in JetStream") {
		t.Fatalf("client list before serve: exit %d, stderr %q", r.code, r.stderr)
	}

	flags := []string{"--nats-url", natsURL, "--registry", "jetstream", "--registry-key-file", key}
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	a := startServe(t, dirA, flags...)
	if !strings.Contains(a.stdout.String(), "JetStream "+registry.DefaultBucket+"/clients.json") {
		t.Errorf("serve did not report the default client in JetStream:\n%s", a.stdout.String())
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	mustRun(t, admin, "client", "add", "--id", "app", "--auth-method", "client_secret_basic", "--secret-file", secretFile)
	secret, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	// The next-step hint of a certificate client points at the same
	// registry without printing the NATS URL, which may hold a password.
	hint := mustRun(t, admin, "client", "add", "--id", "tv", "--subject-dn", "CN=tv").stdout
	if !strings.Contains(hint, `cert issue --client tv --out tv.p12 --password-file tv.pass`) ||
		!strings.Contains(hint, `--nats-url "$`+envNATSURL+`" --registry-key-file `+shellQuote(key)) || strings.Contains(hint, natsURL) {
		t.Errorf("client add hint:\n%s", hint)
	}
	mustRun(t, admin, "client", "remove", "--id", "tv")
	b := startServe(t, dirB, flags...)

	var list []registry.Client
	if err := json.Unmarshal([]byte(mustRun(t, admin, "client", "list", "--json").stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "app" || list[1].ID != registry.DefaultClientID {
		t.Fatalf("client list --nats-url: %+v, want app and %s", list, registry.DefaultClientID)
	}
	if _, err := os.Stat(filepath.Join(dirA, "clients.json")); !os.IsNotExist(err) {
		t.Errorf("clients.json written to the state directory with --registry jetstream: %v", err)
	}

	ask := func(s *serving, dir string) int {
		t.Helper()
		pool, err := pki.CertPoolFromPEMFile(filepath.Join(dir, "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		req, _ := http.NewRequest(http.MethodPost, s.info.Issuer+"/mtls/bc-authorize",
			strings.NewReader(url.Values{"scope": {"openid"}, "login_hint": {"user"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("app", strings.TrimSpace(string(secret)))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for name, s := range map[string]struct {
		srv *serving
		dir string
	}{"A": {a, dirA}, "B": {b, dirB}} {
		if code := ask(s.srv, s.dir); code != http.StatusOK {
			t.Fatalf("bc-authorize of app on OP %s: status %d", name, code)
		}
	}
	if ja, jb := getJWKS(t, a, dirA), getJWKS(t, b, dirB); ja != jb {
		t.Fatalf("the OPs publish different keys:\n%s\n%s", ja, jb)
	}

	mustRun(t, admin, "client", "remove", "--id", "app")
	deadline := time.Now().Add(5 * time.Second)
	for ask(b, dirB) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("OP B still accepts the removed client after 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Private keys need the registry key.
	admin["CIBA_OP_CERT_PASSWORD"] = "pkcs12-password"
	noKey := map[string]string{envStateDir: admin[envStateDir], envNATSURL: natsURL, "CIBA_OP_CERT_PASSWORD": "pkcs12-password"}
	out := filepath.Join(t.TempDir(), "c.p12")
	if r := runMain(t, noKey, "", "cert", "issue", "--client", registry.DefaultClientID, "--out", out); r.code != exitError || !strings.Contains(r.stderr, "registry key") {
		t.Fatalf("cert issue without the registry key: exit %d, stderr %q", r.code, r.stderr)
	}
	mustRun(t, admin, "cert", "issue", "--client", registry.DefaultClientID, "--out", out)
	mustRun(t, admin, "ca", "create", "--name", "lab")
	if r := mustRun(t, admin, "ca", "list"); !strings.Contains(r.stdout, "lab") {
		t.Fatalf("ca list --nats-url lacks lab:\n%s", r.stdout)
	}
}

func getJWKS(t *testing.T, s *serving, dir string) string {
	t.Helper()
	pool, err := pki.CertPoolFromPEMFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(s.info.Issuer + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// TestServeRefusesNATSWithoutJetStream: --registry jetstream on a NATS
// server without JetStream stops serve with exit 1 and one line saying so.
func TestServeRefusesNATSWithoutJetStream(t *testing.T) {
	natsURL := startNATS(t, false)
	dir := filepath.Join(t.TempDir(), "state")
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"serve", "--state-dir", dir, "--addr", "127.0.0.1:0",
		"--nats-url", natsURL, "--registry", "jetstream", "--registry-key-file", registryKeyFile(t)}, Env{Stdout: &stdout, Stderr: &stderr})
	msg := strings.TrimSpace(stderr.String())
	if code != exitError || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "has no JetStream") {
		t.Fatalf("exit %d, stderr %q; want 1 and one line about JetStream", code, msg)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); !os.IsNotExist(err) {
		t.Errorf("a refused serve wrote ca.pem: %v", err)
	}
	// An admin command says the same.
	r := runMain(t, map[string]string{envStateDir: dir, envNATSURL: natsURL}, "", "user", "list")
	if r.code != exitError || !strings.Contains(r.stderr, "has no JetStream") {
		t.Fatalf("user list: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestServeRegistryUsageErrors(t *testing.T) {
	key := registryKeyFile(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--registry", "jetstream", "--registry-key-file", key}, "needs --nats-url"},
		{[]string{"--registry", "jetstream", "--nats-url", "nats://127.0.0.1:1"}, "needs --registry-key-file"},
		{[]string{"--registry", "etcd"}, "want dir or jetstream"},
		{[]string{"--replicas", "0"}, "want 1 to 5"},
		{[]string{"--replicas", "3"}, "needs --nats-url"},
		{[]string{"--registry", "jetstream", "--nats-url", "nats://127.0.0.1:1", "--registry-key-file", writeFile(t, filepath.Join(t.TempDir(), "short"), "abc")}, "want 32 random bytes"},
	} {
		var stderr bytes.Buffer
		code := Main(context.Background(), append([]string{"serve", "--state-dir", t.TempDir()}, tt.args...), Env{Stdout: &bytes.Buffer{}, Stderr: &stderr})
		if code != exitUsage || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}

// TestRegistryURLPasswordNotShown: an admin command that cannot reach
// the NATS server of --nats-url says so without the password the URL
// holds.
func TestRegistryURLPasswordNotShown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	env := map[string]string{envStateDir: filepath.Join(t.TempDir(), "admin")}
	r := runMain(t, env, "", "client", "list", "--nats-url", "nats://ciba-op:s3cret-pw@"+addr)
	if r.code != exitError || strings.Contains(r.stderr+r.stdout, "s3cret-pw") || !strings.Contains(r.stderr, "nats://"+addr) {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}
