package cli_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/client/internal/cli"
	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// watchedWriter is a stderr that tells when a line matching re appears.
type watchedWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	re    *regexp.Regexp
	found chan string
	once  sync.Once
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if m := w.re.FindStringSubmatch(w.buf.String()); m != nil {
		w.once.Do(func() { w.found <- m[1] })
	}
	return n, err
}

func (w *watchedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// writeCAFiles writes the fake OP's CA certificate and key as PEM, so the
// client can issue its notification endpoint's certificate.
func writeCAFiles(tb testing.TB, h *harness) (certFile, keyFile string) {
	tb.Helper()
	certFile = filepath.Join(h.dir, "notify-ca.pem")
	keyFile = filepath.Join(h.dir, "notify-ca-key.pem")
	key, err := pki.EncodePrivateKeyPEM(h.op.CA.Key)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(certFile, pki.EncodeCertificatePEM(h.op.CA.Cert), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := pki.WriteSecretFile(keyFile, key); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile
}

func TestPingModeWithTrace(t *testing.T) {
	stderr := &watchedWriter{re: regexp.MustCompile(`notification endpoint (https://\S+)`), found: make(chan string, 1)}
	pinged := make(chan int, 1)
	var h *harness
	h = newHarness(t, fakeop.Config{Ack: func(r fakeop.Request) fakeop.Reply {
		url := <-stderr.found
		go func() {
			status, err := fakeop.Notify(url, h.op.CA.Pool, r.Form.Get(oauth.ParamClientNotificationToken), "application/json",
				[]byte(`{"auth_req_id":"`+fakeop.DefaultAuthReqID+`"}`))
			if err != nil {
				t.Errorf("ping: %v", err)
			}
			pinged <- status
		}()
		return fakeop.AckReply(fakeop.DefaultAuthReqID, 120, 5)
	}})
	caCert, caKey := writeCAFiles(t, h)
	var stdout bytes.Buffer
	code := cli.Run(context.Background(), cli.Env{
		Stdout: &stdout, Stderr: stderr, Getenv: func(string) string { return "" },
		Now: h.clock.Now, Sleep: func(ctx context.Context, _ time.Duration) error { <-ctx.Done(); return ctx.Err() },
	}, h.args("--delivery-mode", "ping", "--notify-ca-cert", caCert, "--notify-ca-key", caKey, "--trace", "--json"))
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	if status := <-pinged; status != 204 {
		t.Errorf("ping answered %d, want 204", status)
	}
	out := stderr.String()
	for _, want := range []string{
		"← ping received", "⇢ POST " + h.op.BackchannelURL, "client_notification_token=<redacted, 43 characters>",
		"⇠ notification POST /ciba/notify", "Authorization: Bearer <redacted", "⇢ answered 204 No Content",
		`"access_token": "<redacted, 17 characters>"`, `"id_token": "<redacted`, "auth_req_id=<redacted, req=" + oauth.ReqRef(fakeop.DefaultAuthReqID) + ">",
		`"auth_req_id": "<redacted, req=` + oauth.ReqRef(fakeop.DefaultAuthReqID) + `>"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	form := h.op.Requests("/mtls/bc-authorize")[0].Form
	for _, secret := range []string{form.Get(oauth.ParamClientNotificationToken), "fake-access-token", fakeop.DefaultAuthReqID} {
		if strings.Contains(out, secret) {
			t.Errorf("trace shows the secret %q:\n%s", secret, out)
		}
	}
	if len(h.op.Polls()) != 1 {
		t.Errorf("%d polls, want 1 after the ping", len(h.op.Polls()))
	}
	assertOneJSON(t, stdout.String())
}

func TestTraceShowSecrets(t *testing.T) {
	h := newHarness(t, fakeop.Config{})
	res := h.run(t, context.Background(), h.args("--trace", "--show-secrets")...)
	if res.code != cli.ExitOK || !strings.Contains(res.stderr, `"access_token": "fake-access-token"`) {
		t.Fatalf("exit %d; --show-secrets did not show the token:\n%s", res.code, res.stderr)
	}
}

func TestInvalidIDTokenExitCode(t *testing.T) {
	h := newHarness(t, fakeop.Config{Token: tokens(fakeop.TokenReplyWith("at-1", "", &fakeop.IDToken{Alg: "none"}))})
	res := h.run(t, context.Background(), h.args("--json")...)
	if res.code != cli.ExitError {
		t.Fatalf("exit %d, want %d\n%s", res.code, cli.ExitError, res.stderr)
	}
	assertOneJSON(t, res.stdout)
	var out map[string]string
	json.Unmarshal([]byte(res.stdout), &out)
	if out["error"] != "invalid_id_token" || !strings.Contains(out["error_description"], `alg "none"`) {
		t.Errorf("stdout %s", res.stdout)
	}
	if strings.Contains(res.stdout, "at-1") {
		t.Error("the access token of a rejected response was printed")
	}
}

func TestBadAnswersExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		cfg     fakeop.Config
		problem string
	}{
		{"garbage ack", fakeop.Config{Ack: func(fakeop.Request) fakeop.Reply { return fakeop.Raw(200, "application/json", "<<<") }}, "malformed"},
		{"ack as HTML", fakeop.Config{Ack: func(fakeop.Request) fakeop.Reply { return fakeop.Raw(200, "text/html", "{}") }}, "content type"},
		{"ack without auth_req_id", fakeop.Config{Ack: func(fakeop.Request) fakeop.Reply {
			return fakeop.Raw(200, "application/json", `{"expires_in":60}`)
		}}, "auth_req_id"},
		{"negative interval", fakeop.Config{Ack: func(fakeop.Request) fakeop.Reply {
			return fakeop.Raw(200, "application/json", `{"auth_req_id":"a","expires_in":60,"interval":-5}`)
		}}, "interval"},
		{"oversized token response", fakeop.Config{Token: tokens(fakeop.Raw(200, "application/json", strings.Repeat(" ", 2<<20)))}, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			res := h.run(t, context.Background(), h.args("--json")...)
			if res.code != cli.ExitError {
				t.Fatalf("exit %d, want %d\n%s", res.code, cli.ExitError, res.stderr)
			}
			var out map[string]string
			json.Unmarshal([]byte(res.stdout), &out)
			if out["error"] != "invalid_response" || !strings.Contains(out["error_description"], tt.problem) || strings.Contains(out["error_description"], "\n") {
				t.Errorf("stdout %s, want one line about %q", res.stdout, tt.problem)
			}
		})
	}
}

func TestPrivateKeyJWTAndSignedRequests(t *testing.T) {
	h := newHarness(t, fakeop.Config{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pemKey, _ := pki.EncodePrivateKeyPEM(key)
	keyFile := filepath.Join(h.dir, "signing-key.pem")
	if err := pki.WriteSecretFile(keyFile, pemKey); err != nil {
		t.Fatal(err)
	}
	res := h.run(t, context.Background(), h.args("--auth-method", "private_key_jwt", "--assertion-key", keyFile,
		"--sign-requests", "--request-key", keyFile, "--request-key-id", "k1")...)
	if res.code != cli.ExitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	form := h.op.Requests("/mtls/bc-authorize")[0].Form
	if form.Get("request") == "" || form.Get("client_assertion") == "" || form.Get("login_hint") != "" {
		t.Errorf("form %v, want a request object and a client assertion, no bare parameters", form)
	}
	if !strings.Contains(res.stderr, "signed request object ES256") {
		t.Errorf("stderr:\n%s", res.stderr)
	}
}

func TestRefreshFromFile(t *testing.T) {
	h := newHarness(t, fakeop.Config{})
	rtFile := filepath.Join(h.dir, "rt")
	if err := pki.WriteSecretFile(rtFile, []byte("rt-0\n")); err != nil {
		t.Fatal(err)
	}
	res := h.run(t, context.Background(), h.args("--refresh", rtFile, "--json")...)
	if res.code != cli.ExitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	var out map[string]any
	json.Unmarshal([]byte(res.stdout), &out)
	if out["access_token"] != "refreshed-1" || out["refresh_token"] != "rt-1" || !strings.Contains(res.stderr, "rotated") {
		t.Errorf("stdout %s\n%s", res.stdout, res.stderr)
	}
	if len(h.op.Requests("/mtls/bc-authorize")) != 0 {
		t.Error("--refresh sent a backchannel request")
	}
}

func TestTraceRedactsLargeBodies(t *testing.T) {
	body := `{"access_token":"SECRET-ACCESS-TOKEN","padding":"` + strings.Repeat("x", 5000) + `","refresh_token":"SECRET-REFRESH","token_type":"Bearer"}`
	h := newHarness(t, fakeop.Config{Token: tokens(fakeop.Raw(200, "application/json", body))})
	res := h.run(t, context.Background(), h.args("--trace", "--json")...)
	if res.code != cli.ExitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, `"access_token": "<redacted, 19 characters>"`) {
		t.Errorf("the trace does not show the redacted token response:\n%.2000s", res.stderr)
	}
	for _, secret := range []string{"SECRET-ACCESS-TOKEN", "SECRET-REFRESH"} {
		if strings.Contains(res.stderr, secret) {
			t.Errorf("--trace shows %s in clear", secret)
		}
	}
}
