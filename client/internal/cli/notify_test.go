package cli_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/client/internal/cli"
	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// writeNotifyCert writes a server certificate of the fake OP's CA for
// 127.0.0.1 where ciba-op cert issue puts it for a ping or push client:
// next to the client certificate, as client-notify.pem and
// client-notify-key.pem.
func writeNotifyCert(tb testing.TB, h *harness) string {
	tb.Helper()
	cert := h.op.CA.ServerCert(tb)
	key, err := pki.EncodePrivateKeyPEM(cert.PrivateKey)
	if err != nil {
		tb.Fatal(err)
	}
	base := strings.TrimSuffix(h.files.P12, filepath.Ext(h.files.P12)) + "-notify"
	if err := os.WriteFile(base+".pem", pki.EncodeCertificatePEM(cert.Leaf), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := pki.WriteSecretFile(base+"-key.pem", key); err != nil {
		tb.Fatal(err)
	}
	return base + ".pem"
}

func freePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestPushWithTheIssuedNotificationCertificate follows the README: the
// client is given only --notify-url, the URL registered for it; it listens
// on that URL's port with the certificate found next to --cert, and
// acknowledges the pushed denial with 204 before it exits 3.
func TestPushWithTheIssuedNotificationCertificate(t *testing.T) {
	url := "https://127.0.0.1:" + freePort(t) + "/ciba/notify"
	pushed := make(chan int, 1)
	var h *harness
	h = newHarness(t, fakeop.Config{Ack: func(r fakeop.Request) fakeop.Reply {
		go func() {
			status, err := fakeop.Notify(url, h.op.CA.Pool, r.Form.Get(oauth.ParamClientNotificationToken), "application/json",
				[]byte(`{"auth_req_id":"`+fakeop.DefaultAuthReqID+`","error":"access_denied"}`))
			if err != nil {
				status = -1
			}
			pushed <- status
		}()
		return fakeop.AckReply(fakeop.DefaultAuthReqID, 120, 5)
	}})
	certFile := writeNotifyCert(t, h)
	// Time stands still: only the push ends the wait.
	h.sleep = func(ctx context.Context, _ time.Duration) error { <-ctx.Done(); return ctx.Err() }
	res := h.run(t, context.Background(), h.args("--delivery-mode", "push", "--notify-url", url, "--json")...)
	if res.code != cli.ExitDenied {
		t.Fatalf("exit %d, want %d\n%s", res.code, cli.ExitDenied, res.stderr)
	}
	if status := <-pushed; status != 204 {
		t.Errorf("the pushed denial was answered %d (-1: no answer), want 204", status)
	}
	if !strings.Contains(res.stderr, "notification endpoint certificate "+certFile) || !strings.Contains(res.stderr, "notification endpoint "+url) {
		t.Errorf("stderr does not name the certificate and the URL:\n%s", res.stderr)
	}
	var out map[string]string
	json.Unmarshal([]byte(res.stdout), &out)
	if out["error"] != oauth.ErrAccessDenied {
		t.Errorf("stdout %s", res.stdout)
	}
}

// TestNothingPushedIsNotCalledExpired: in push mode the client cannot tell
// a lost outcome from an expiry, so after expires_in (and the grace for an
// expired_token push) it exits 4 saying that nothing was pushed, pointing
// to the OP's log, never that the request expired.
func TestNothingPushedIsNotCalledExpired(t *testing.T) {
	h := newHarness(t, fakeop.Config{})
	writeNotifyCert(t, h)
	res := h.run(t, context.Background(), h.args("--delivery-mode", "push", "--notify-url", "https://127.0.0.1:"+freePort(t)+"/ciba/notify", "--json")...)
	if res.code != cli.ExitExpired {
		t.Fatalf("exit %d, want %d\n%s", res.code, cli.ExitExpired, res.stderr)
	}
	var out map[string]string
	json.Unmarshal([]byte(res.stdout), &out)
	if out["error"] != "no_push" || !strings.Contains(out["error_description"], "push failed") {
		t.Errorf("stdout %s, want no_push pointing to the OP's log", res.stdout)
	}
	last := lines(res.stderr)[len(lines(res.stderr))-1]
	if strings.Contains(res.stdout, "expired") || strings.Contains(last, "expired") {
		t.Errorf("the client claims an expiry it cannot know:\n%s\n%s", res.stdout, last)
	}
}

// TestNotificationCertificateIsRequired: without a certificate for the
// notification endpoint the client says where ciba-op writes one.
func TestNotificationCertificateIsRequired(t *testing.T) {
	h := newHarness(t, fakeop.Config{})
	res := h.run(t, context.Background(), h.args("--delivery-mode", "ping", "--notify-url", "https://127.0.0.1:"+freePort(t)+"/ciba/notify")...)
	if res.code != cli.ExitUsage || !strings.Contains(res.stderr, "ciba-op cert issue") || !strings.Contains(res.stderr, "-notify.pem") {
		t.Errorf("exit %d, want %d and a pointer to ciba-op cert issue:\n%s", res.code, cli.ExitUsage, res.stderr)
	}
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
