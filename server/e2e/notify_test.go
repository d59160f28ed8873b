package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/server/ca"
)

// freeLoopbackPort returns a port that was free on 127.0.0.1 a moment ago.
// The notification endpoint's URL must be registered before ciba-client
// starts listening, so the port is chosen first.
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestNotificationModesWithRealPrograms runs ping and push (CIBA Core 1.0
// §10.2, §10.3) with the real programs: ciba-client serves its own HTTPS
// notification endpoint with a certificate from a test CA that ciba-op
// trusts through --notification-ca-file.
func TestNotificationModesWithRealPrograms(t *testing.T) {
	dir := t.TempDir()
	notifyCA, err := ca.New(ca.Config{}, "notify")
	if err != nil {
		t.Fatal(err)
	}
	if err := notifyCA.Save(dir); err != nil {
		t.Fatal(err)
	}
	caCert, caKey := filepath.Join(dir, ca.CertFile), filepath.Join(dir, ca.KeyFile)
	o := startOP(t, "--notification-ca-file", caCert)
	pw := filepath.Join(dir, "p12.pass")
	os.WriteFile(pw, []byte("secret\n"), 0o600)

	tests := []struct {
		mode    string
		approve bool
		code    int
	}{
		{"ping", true, 0},
		{"ping", false, 3},
		{"push", true, 0},
		{"push", false, 3},
	}
	for _, tt := range tests {
		verdict := map[bool]string{true: "approve", false: "deny"}[tt.approve]
		t.Run(tt.mode+" "+verdict, func(t *testing.T) {
			id := tt.mode + "-" + verdict
			port := freeLoopbackPort(t)
			endpoint := "https://127.0.0.1:" + port + "/ciba/notify"
			o.admin(t, nil, "client", "add", "--id", id, "--delivery-mode", tt.mode, "--notification-endpoint", endpoint)
			p12 := filepath.Join(dir, id+".p12")
			o.admin(t, nil, "cert", "issue", "--client", id, "--out", p12, "--password-file", pw)
			auth := o.authenticator(t, "user", "password", "--auto", verdict, "--once")
			res := o.client(t, "--client-id", id, "--cert", p12, "--cert-password-file", pw,
				"--delivery-mode", tt.mode, "--notify-listen", "127.0.0.1:"+port, "--notify-url", endpoint,
				"--notify-ca-cert", caCert, "--notify-ca-key", caKey, "--binding-message", "E2E "+id)
			if res.code != tt.code {
				t.Fatalf("ciba-client exit %d, want %d:\n%s\n%s", res.code, tt.code, res.stdout, res.stderr)
			}
			doc := decodeJSON(t, res.stdout)
			if tt.approve {
				at := o.verify(t, doc["access_token"].(string))
				if at["client_id"] != id || at["sub"] != "user" {
					t.Fatalf("access token claims %v", at)
				}
			} else if doc["error"] != "access_denied" {
				t.Fatalf("--json error document %v", doc)
			}
			if tt.mode == "push" && strings.Contains(res.stderr, "polling") {
				t.Errorf("a push client polled:\n%s", res.stderr)
			}
			if tt.mode == "ping" && !strings.Contains(res.stderr, "ping received") {
				t.Errorf("no ping reached the client:\n%s", res.stderr)
			}
			if code := auth.exitCode(t, 20e9); code != 0 {
				t.Fatalf("authenticator exit %d", code)
			}
		})
	}
}
