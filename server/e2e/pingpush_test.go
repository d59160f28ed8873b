package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/shared/pki"
)

// notifyClient is a ping or push client registered with the README's
// commands.
type notifyClient struct {
	id, url string
	// client is the README's ciba-client command line for it.
	client []string
}

// readmeCommands returns the README's three ping and push commands (client
// add, cert issue, ciba-client), each split into its arguments after the
// program name.
func readmeCommands(t *testing.T) (add, issue, client []string) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(readme), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "bin/ciba-op client add --id shop-push "):
			add = f[1:]
		case strings.HasPrefix(line, "bin/ciba-op cert issue --client shop-push "):
			issue = f[1:]
		case strings.HasPrefix(line, "bin/ciba-client --client-id shop-push "):
			client = f[1:]
		}
	}
	if add == nil || issue == nil || client == nil {
		t.Fatal("README.md lacks the ping and push commands (bin/ciba-op client add --id shop-push, bin/ciba-op cert issue --client shop-push, bin/ciba-client --client-id shop-push)")
	}
	return add, issue, client
}

// addNotifyClient registers a client in mode exactly as the README's
// commands do, with id for shop-push, mode for push, its own free port for
// the README's URL, and files in a temporary directory.
func (o *op) addNotifyClient(t *testing.T, id, mode string) notifyClient {
	t.Helper()
	add, issue, client := readmeCommands(t)
	dir := t.TempDir()
	c := notifyClient{id: id, url: "https://127.0.0.1:" + freeLoopbackPort(t) + "/ciba/notify"}
	if err := os.WriteFile(filepath.Join(dir, "shop.pass"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	subst := func(args []string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			a = strings.ReplaceAll(a, "https://127.0.0.1:8443/ciba/notify", c.url)
			a = strings.ReplaceAll(a, "shop-push", id)
			if i > 0 && args[i-1] == "--delivery-mode" {
				a = mode
			}
			if strings.HasSuffix(a, ".p12") || strings.HasSuffix(a, ".pass") {
				a = filepath.Join(dir, a)
			}
			out[i] = a
		}
		return out
	}
	o.admin(t, nil, subst(add)...)
	out := o.admin(t, nil, subst(issue)...)
	if !strings.Contains(out, id+"-notify.pem (notification endpoint certificate for 127.0.0.1)") {
		t.Fatalf("ciba-op cert issue did not write the notification endpoint certificate:\n%s", out)
	}
	c.client = subst(client)
	return c
}

// args are the README's ciba-client arguments for c, then extra.
func (c notifyClient) args(extra ...string) []string {
	return append(append([]string(nil), c.client...), extra...)
}

// opLog returns the OP's log lines for client id that contain every part.
func (o *op) opLog(id string, parts ...string) []string {
	var out []string
next:
	for _, line := range strings.Split(o.stderr.String(), "\n") {
		if !strings.Contains(line, "client_id="+id+" ") {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

// waitLog waits until the OP has logged a line for client id with every
// part, and returns it.
func (o *op) waitLog(t *testing.T, id string, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if l := o.opLog(id, parts...); len(l) > 0 {
			return l[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the OP did not log %q for %s:\n%s", parts, id, o.stderr)
	return ""
}

// TestPingAndPushAsTheREADMESays: ping and push, approved and denied, with
// the real programs and nothing but the README's commands: the OP trusts
// the certificate ciba-op cert issue wrote for the endpoint, the client
// acknowledges every notification with 204 (the OP logs one delivery, no
// failure, no retry), and the client exits 0 with a token of its own or 3.
func TestPingAndPushAsTheREADMESays(t *testing.T) {
	o := startOP(t)
	tests := []struct {
		mode, verdict string
		code          int
	}{
		{"ping", "approve", 0},
		{"ping", "deny", 3},
		{"push", "approve", 0},
		{"push", "deny", 3},
	}
	for _, tt := range tests {
		t.Run(tt.mode+" "+tt.verdict, func(t *testing.T) {
			id := "shop-" + tt.mode + "-" + tt.verdict
			c := o.addNotifyClient(t, id, tt.mode)
			auth := o.authenticator(t, "user", "password", "--auto", tt.verdict, "--once")
			res := o.client(t, c.args("--binding-message", "README "+id)...)
			if res.code != tt.code {
				t.Fatalf("ciba-client exit %d, want %d:\n%s\n%s", res.code, tt.code, res.stdout, res.stderr)
			}
			doc := decodeJSON(t, res.stdout)
			if tt.code == 0 {
				at := o.verify(t, doc["access_token"].(string))
				if at["client_id"] != id || at["sub"] != "user" {
					t.Fatalf("access token claims %v", at)
				}
			} else if doc["error"] != "access_denied" {
				t.Fatalf("--json error document %v", doc)
			}
			delivered := o.waitLog(t, id, "level=INFO", "msg=notify.delivered", "mode="+tt.mode, "status=204")
			if strings.Contains(delivered, "attempt=") && !strings.Contains(delivered, "attempt=1") {
				t.Errorf("delivered after a retry: %s", delivered)
			}
			// The OP sees the 204 before the client exits: nothing failed,
			// nothing is retried, also a little later.
			time.Sleep(500 * time.Millisecond)
			if bad := o.opLog(id, "level=WARN", "msg=notify."); len(bad) > 0 || len(o.opLog(id, "msg=notify.delivered")) != 1 {
				t.Errorf("want exactly one delivery and no warning for %s:\n%s", id, strings.Join(o.opLog(id), "\n"))
			}
			if tt.mode == "ping" && !strings.Contains(res.stderr, "ping received") {
				t.Errorf("no ping reached the client:\n%s", res.stderr)
			}
			if tt.mode == "push" && strings.Contains(res.stderr, "polling") {
				t.Errorf("a push client polled:\n%s", res.stderr)
			}
			if code := auth.exitCode(t, 20*time.Second); code != 0 {
				t.Fatalf("authenticator exit %d", code)
			}
		})
	}
}

// authCommand runs a one-shot ciba-authenticator command for user with the
// device in deviceDir (enrolled on first use) and returns its stdout.
func (o *op) authCommand(t *testing.T, deviceDir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin("ciba-authenticator"), append(args, "--nats-url", o.natsURL, "--user", "user", "--device-dir", deviceDir)...)
	cmd.Env = append(os.Environ(), "CIBA_AUTH_PASSWORD=password")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ciba-authenticator %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// pendingRef returns the short reference of the user's pending request
// with the binding message msg.
func (o *op) pendingRef(t *testing.T, deviceDir, msg string) string {
	t.Helper()
	out := o.authCommand(t, deviceDir, "list", "--json")
	for _, l := range lines(out) {
		var ev struct {
			Requests []struct {
				Ref            string `json:"req"`
				BindingMessage string `json:"binding_message"`
			} `json:"requests"`
		}
		if json.Unmarshal([]byte(l), &ev) != nil {
			continue
		}
		for _, r := range ev.Requests {
			if r.BindingMessage == msg {
				return r.Ref
			}
		}
	}
	t.Fatalf("no pending request with the binding message %q in:\n%s", msg, out)
	return ""
}

// TestPushForAnAbandonedRequestIsRefusedAndNotRetried: a client that gave
// up on a request (--timeout) leaves it pending; when the user approves it
// later, the OP's push reaches the next client started on the same
// endpoint, which does not know it: that client answers 401, the OP logs
// WARN with the reason and does not push again, and the next client's own
// request completes unharmed.
func TestPushForAnAbandonedRequestIsRefusedAndNotRetried(t *testing.T) {
	o := startOP(t)
	c := o.addNotifyClient(t, "shop-push", "push")
	first := o.client(t, c.args("--binding-message", "first", "--timeout", "1s")...)
	if first.code != 4 || decodeJSON(t, first.stdout)["error"] != "timeout" {
		t.Fatalf("first ciba-client: exit %d, want 4 (timeout):\n%s\n%s", first.code, first.stdout, first.stderr)
	}
	base := []string{"--issuer", o.issuer, "--ca-file", filepath.Join(o.stateDir, "ca.pem"), "--scope", "openid profile", "--login-hint", "user", "--json"}
	second := start(t, nil, "ciba-client", append(base, c.args("--binding-message", "second")...)...)
	second.waitFor(t, second.stderr, regexp.MustCompile(`waiting for the OP to push`))
	dev := filepath.Join(t.TempDir(), "device")
	o.authCommand(t, dev, "approve", o.pendingRef(t, dev, "first"))
	refused := o.waitLog(t, "shop-push", "level=WARN", "msg=notify.failed", `then="not retried"`, "status=401")
	if !strings.Contains(refused, "attempt=1") || !strings.Contains(refused, "no longer waits for this request") {
		t.Errorf("the refusal is not logged with its reason: %s", refused)
	}
	o.authCommand(t, dev, "approve", o.pendingRef(t, dev, "second"))
	if code := second.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("second ciba-client exit %d, want 0:\n%s\n%s", code, second.stdout, second.stderr)
	}
	at := o.verify(t, decodeJSON(t, second.stdout.String())["access_token"].(string))
	if at["client_id"] != "shop-push" {
		t.Errorf("access token claims %v", at)
	}
	time.Sleep(time.Second) // a retry would come after 1 s
	if n := len(o.opLog("shop-push", "msg=notify.failed")); n != 1 {
		t.Errorf("%d failed pushes logged, want 1 (no retry after a 401):\n%s", n, strings.Join(o.opLog("shop-push"), "\n"))
	}
}

// TestUntrustedNotificationEndpoint: a notification endpoint served with a
// certificate of a CA the OP was not told about (no
// --notification-ca-file) is refused. The OP logs WARN with the reason;
// the ping client still gets its token by polling; the push client, which
// may not poll, exits 4 saying that nothing was pushed, never that the
// approved request expired.
func TestUntrustedNotificationEndpoint(t *testing.T) {
	o := startOP(t)
	other, err := ca.New(ca.Config{}, "elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, err := other.IssueServer([]string{"127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.EncodePrivateKeyPEM(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "other.pem"), filepath.Join(dir, "other-key.pem")
	os.WriteFile(certFile, pki.EncodeCertificatePEM(cert.Leaf), 0o644)
	pki.WriteSecretFile(keyFile, key)
	for _, mode := range []string{"ping", "push"} {
		t.Run(mode, func(t *testing.T) {
			id := "untrusted-" + mode
			c := o.addNotifyClient(t, id, mode)
			o.authenticator(t, "user", "password", "--auto", "approve", "--once")
			res := o.client(t, c.args("--notify-cert", certFile, "--notify-key", keyFile, "--requested-expiry", "3")...)
			line := o.waitLog(t, id, "level=WARN", "msg=notify.failed", "mode="+mode)
			if !strings.Contains(line, "does not trust the notification endpoint's certificate") || !strings.Contains(line, "unknown authority") {
				t.Errorf("the failure is not logged with its reason: %s", line)
			}
			switch mode {
			case "ping":
				if res.code != 0 {
					t.Fatalf("ciba-client exit %d, want 0 by polling:\n%s", res.code, res.stderr)
				}
			case "push":
				doc := decodeJSON(t, res.stdout)
				if res.code != 4 || doc["error"] != "no_push" {
					t.Fatalf("ciba-client exit %d, %v; want 4 and no_push:\n%s", res.code, doc, res.stderr)
				}
				if strings.Contains(res.stdout, "expired") || strings.Contains(res.stderr, "✗ the request expired") {
					t.Errorf("the client says the approved request expired:\n%s\n%s", res.stdout, res.stderr)
				}
				if n := len(o.opLog(id, "msg=notify.failed")); n != 1 {
					t.Errorf("%d failed pushes, want 1: an untrusted certificate is not retried", n)
				}
			}
		})
	}
}
