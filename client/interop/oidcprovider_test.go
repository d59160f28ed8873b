package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// provider is a running oidc-provider.
type provider struct {
	issuer  string
	ca      *fakeop.CA
	certs   map[string]tls.Certificate // client certificates by client_id
	notify  *ciba.NotificationServer
	stderr  *syncBuffer
	pollID  string
	pingID  string
	started time.Time
}

const (
	pollClient = "cibaConformance"
	pingClient = "cibaPing"
)

// interopDir is the repository's interop/ directory.
func interopDir(tb testing.TB) string {
	tb.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "interop"))
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// requireNode fails (never skips) when Node.js or the npm packages are
// missing.
func requireNode(tb testing.TB) string {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Fatal("node not found: install Node.js 20 or later, then run `npm ci` in interop/")
	}
	if _, err := os.Stat(filepath.Join(interopDir(tb), "node_modules", "oidc-provider", "package.json")); err != nil {
		tb.Fatal("interop/node_modules/oidc-provider is missing: run `npm ci` in interop/")
	}
	return node
}

// startProvider starts oidc-provider whose simulated user answers decision
// (approve or deny); it stops at the end of the test.
func startProvider(tb testing.TB, decision string) *provider {
	tb.Helper()
	node := requireNode(tb)
	dir := tb.TempDir()
	ca := fakeop.NewCA(tb, "interop CA")
	p := &provider{ca: ca, certs: map[string]tls.Certificate{}, stderr: &syncBuffer{}, pollID: pollClient, pingID: pingClient}
	for _, id := range []string{pollClient, pingClient} {
		p.certs[id] = ca.ClientCert(tb, id)
	}
	ns, err := ciba.NewNotificationServer(ciba.NotificationServerConfig{Certificate: ca.ServerCert(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ns.Close() })
	p.notify = ns

	server := ca.ServerCert(tb)
	caFile := writePEM(tb, dir, "ca.pem", pki.EncodeCertificatePEM(ca.Cert))
	certFile := writePEM(tb, dir, "server.pem", pki.EncodeCertificatePEM(server.Leaf))
	keyPEM, err := pki.EncodePrivateKeyPEM(server.PrivateKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyFile := writePEM(tb, dir, "server-key.pem", keyPEM)

	clients := []map[string]any{
		clientMetadata(pollClient, "poll", ""),
		clientMetadata(pingClient, "ping", ns.URL()),
	}
	clientsJSON, _ := json.Marshal(clients)
	cmd := exec.Command(node, "oidc-provider-op.mjs")
	cmd.Dir = interopDir(tb)
	cmd.Env = append(os.Environ(),
		"OP_TLS_CERT="+certFile, "OP_TLS_KEY="+keyFile, "OP_CLIENT_CA="+caFile,
		"OP_JWKS="+signingJWKS(tb), "OP_CLIENTS="+string(clientsJSON),
		"OP_DECISION="+decision, "OP_DECISION_DELAY_MS=300",
		"OP_COOKIE_KEY="+randomString(tb),
		"NODE_EXTRA_CA_CERTS="+caFile,
		"NODE_ENV=production",
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start oidc-provider: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		<-exited
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-lines:
		p.issuer = strings.TrimSpace(line)
	case <-exited:
		tb.Fatalf("oidc-provider exited before it was ready:\n%s", p.stderr.String())
	case <-time.After(15 * time.Second):
		tb.Fatalf("oidc-provider not ready after 15 s:\n%s", p.stderr.String())
	}
	if !strings.HasPrefix(p.issuer, "https://127.0.0.1:") {
		tb.Fatalf("oidc-provider printed %q, want its issuer URL", p.issuer)
	}
	return p
}

func clientMetadata(id, mode, notify string) map[string]any {
	m := map[string]any{
		"client_id":                                  id,
		"grant_types":                                []string{oauth.GrantTypeCIBA},
		"response_types":                             []string{},
		"redirect_uris":                              []string{},
		"token_endpoint_auth_method":                 "tls_client_auth",
		"tls_client_auth_subject_dn":                 "CN=" + id,
		"backchannel_token_delivery_mode":            mode,
		"tls_client_certificate_bound_access_tokens": true,
		"id_token_signed_response_alg":               "ES256",
	}
	if notify != "" {
		m["backchannel_client_notification_endpoint"] = notify
	}
	return m
}

// signingJWKS returns a private JWKS with one fresh ES256 key.
func signingJWKS(tb testing.TB) string {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := pki.PublicJWK(&key.PublicKey, "interop-es256", "ES256")
	if err != nil {
		tb.Fatal(err)
	}
	d := make([]byte, 32)
	key.D.FillBytes(d)
	set := map[string]any{"keys": []map[string]any{{
		"kty": pub.Kty, "crv": pub.Crv, "x": pub.X, "y": pub.Y, "kid": pub.Kid, "alg": "ES256", "use": "sig",
		"d": base64.RawURLEncoding.EncodeToString(d),
	}}}
	data, _ := json.Marshal(set)
	return string(data)
}

func randomString(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func writePEM(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := pki.WriteSecretFile(path, data); err != nil {
		tb.Fatal(err)
	}
	return path
}

// config is a client of p for clientID in mode, logging into logs.
func (p *provider) config(clientID string, mode oauth.DeliveryMode, logs io.Writer) *ciba.Config {
	c := &ciba.Config{
		Issuer:       p.issuer,
		ClientID:     clientID,
		HTTPClient:   ciba.NewHTTPClient(p.certs[clientID], p.ca.Pool, false),
		DeliveryMode: mode,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mode == oauth.ModePing {
		c.Notifications = p.notify
	}
	return c
}

// flow runs discovery, the backchannel request and the wait.
func (p *provider) flow(tb testing.TB, c *ciba.Config) (*ciba.Token, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Discover(ctx); err != nil {
		tb.Fatalf("Discover: %v\n%s", err, p.stderr.String())
	}
	ack, err := c.Start(ctx, ciba.Request{Scope: []string{"openid"}, LoginHint: "user", BindingMessage: "W4SCT"})
	if err != nil {
		tb.Fatalf("Start: %v\n%s", err, p.stderr.String())
	}
	return c.Wait(ctx, ack, nil)
}

// introspect asks the provider about an access token (RFC 7662) with the
// client's own mutual-TLS authentication.
func (p *provider) introspect(tb testing.TB, c *ciba.Config, token string) map[string]any {
	tb.Helper()
	form := url.Values{"token": {token}, "client_id": {c.ClientID}}
	resp, err := c.HTTPClient.PostForm(p.issuer+"/token/introspection", form)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("introspection: HTTP %d, %v", resp.StatusCode, err)
	}
	return out
}

func TestOIDCProvider(t *testing.T) {
	requireNode(t)
	for _, decision := range []string{"approve", "deny"} {
		t.Run(decision, func(t *testing.T) {
			t.Parallel()
			p := startProvider(t, decision)
			for _, tc := range []struct {
				mode     oauth.DeliveryMode
				clientID string
			}{{oauth.ModePoll, pollClient}, {oauth.ModePing, pingClient}} {
				t.Run(string(tc.mode), func(t *testing.T) {
					t.Parallel()
					var logs syncBuffer
					c := p.config(tc.clientID, tc.mode, &logs)
					tok, err := p.flow(t, c)
					if decision == "deny" {
						var oe *oauth.Error
						if !errors.As(err, &oe) || oe.Code != oauth.ErrAccessDenied || oe.Status != http.StatusBadRequest {
							t.Fatalf("err = %v, want access_denied with HTTP 400\n%s", err, p.stderr.String())
						}
					} else {
						if err != nil {
							t.Fatalf("Wait: %v\n%s\n%s", err, logs.String(), p.stderr.String())
						}
						if tok.IDTokenClaims == nil || tok.IDTokenClaims.Subject != "user" || tok.IDTokenClaims.Algorithm != "ES256" {
							t.Errorf("ID token claims %+v, want a checked ES256 token for user", tok.IDTokenClaims)
						}
						info := p.introspect(t, c, tok.AccessToken)
						cnf, _ := info["cnf"].(map[string]any)
						want := pki.ThumbprintS256(p.certs[tc.clientID].Leaf)
						if info["active"] != true || cnf["x5t#S256"] != want {
							t.Errorf("introspection %v, want an active token with cnf.x5t#S256 %s (RFC 8705 §3.2)", info, want)
						}
					}
					if tc.mode == oauth.ModePing && !strings.Contains(logs.String(), "msg=ciba.ping") {
						t.Errorf("no ping reached the client:\n%s\n%s", logs.String(), p.stderr.String())
					}
				})
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
