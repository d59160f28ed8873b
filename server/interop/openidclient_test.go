package interop

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/server/optest"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// runTimeout bounds one run of the Node script.
const runTimeout = 20 * time.Second

// interopDir is the repository's interop/ directory, which holds the script
// and the pinned npm packages.
func interopDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "interop"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// requireNode returns the path of node, failing (not skipping) when Node
// or the pinned packages are missing: the interop tests are part of the
// suite.
func requireNode(t testing.TB) (node, dir string) {
	t.Helper()
	dir = interopDir(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: install Node.js 20 or later, then run `npm ci` in %s (scripts/test.sh does it)", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openid-client", "package.json")); err != nil {
		t.Fatalf("openid-client is not installed: run `npm ci` in %s (scripts/test.sh does it)", dir)
	}
	return node, dir
}

// notifyTLS is the TLS side of the client notification endpoints the
// script serves in ping mode (CIBA Core 1.0 §10.2): a certificate for
// 127.0.0.1 from a CA of its own, and a transport for the OP's
// notifications that trusts that CA alone.
type notifyTLS struct {
	transport         *http.Transport
	certFile, keyFile string
}

func newNotifyTLS(t testing.TB) *notifyTLS {
	t.Helper()
	notifyCA, err := ca.New(ca.Config{}, "interop-notify")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := notifyCA.IssueServer([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(tc.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(notifyCA.Cert)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	t.Cleanup(tr.CloseIdleConnections)
	tmp := t.TempDir()
	return &notifyTLS{
		transport: tr,
		certFile:  writeFile(t, tmp, "notify.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tc.Certificate[0]}), false),
		keyFile:   writeFile(t, tmp, "notify-key.pem", keyPEM, true),
	}
}

// env is one OP started by optest for one run of the script, with the
// enrolled device of the user "user", polling interval 1 s, and its pings
// sent through the notify transport.
type env struct {
	srv *optest.Server
	tmp string
}

func startEnv(t *testing.T, notify *notifyTLS) *env {
	t.Helper()
	return &env{
		srv: optest.NewServer(t, optest.Interval(time.Second), optest.NotificationTransport(notify.transport)),
		tmp: t.TempDir(),
	}
}

func writeFile(t testing.TB, dir, name string, data []byte, secret bool) string {
	t.Helper()
	path := filepath.Join(dir, name)
	write := pki.WritePublicFile
	if secret {
		write = pki.WriteSecretFile
	}
	if err := write(path, data); err != nil {
		t.Fatal(err)
	}
	return path
}

// rpClient is a client registered for one run, with its credentials on
// disk for the script.
type rpClient struct {
	id               string
	cert             *x509.Certificate
	certFile, keyPEM string
}

// register registers a tls_client_auth CIBA client with the OP and writes
// the certificate optest issues for it.
func (e *env) register(t testing.TB, id string, mode oauth.DeliveryMode, endpoint, idTokenAlg string) *rpClient {
	t.Helper()
	e.srv.AddClient(id, optest.ClientName("openid-client "+string(mode)), optest.DeliveryMode(mode),
		optest.NotificationEndpoint(endpoint),
		optest.ClientMetadata(func(c *registry.Client) { c.IDTokenSignedResponseAlg = idTokenAlg }))
	cert := e.srv.ClientCertificate(id)
	keyPEM, err := pki.EncodePrivateKeyPEM(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return &rpClient{
		id:       id,
		cert:     cert.Leaf,
		certFile: writeFile(t, e.tmp, id+".pem", pki.EncodeCertificatePEM(cert.Leaf), false),
		keyPEM:   writeFile(t, e.tmp, id+"-key.pem", keyPEM, true),
	}
}

// script is a running openid-client-rp.mjs.
type script struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan map[string]any
	stderr *strings.Builder
	mu     sync.Mutex
	lines  []string
}

func (e *env) runScript(t *testing.T, cfg map[string]any) *script {
	t.Helper()
	node, dir := requireNode(t)
	cfgFile := filepath.Join(e.tmp, fmt.Sprintf("%s.json", cfg["clientId"]))
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	s := &script{events: make(chan map[string]any, 16), stderr: &strings.Builder{}}
	s.cmd = exec.CommandContext(ctx, node, filepath.Join(dir, "openid-client-rp.mjs"), cfgFile)
	s.cmd.Dir = dir
	s.cmd.Stderr = &lockedWriter{mu: &s.mu, w: s.stderr}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				s.events <- ev
			}
		}
	}()
	t.Cleanup(func() {
		s.stdin.Close()
		cancel()
		<-done
		s.cmd.Wait()
		if t.Failed() {
			s.mu.Lock()
			t.Logf("openid-client-rp.mjs stdout:\n%s\nstderr:\n%s", strings.Join(s.lines, "\n"), s.stderr.String())
			s.mu.Unlock()
		}
	})
	return s
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// next returns the next event of the given type, failing on a premature
// end of the script.
func (s *script) next(t testing.TB, event string) map[string]any {
	t.Helper()
	for ev := range s.events {
		if ev["event"] == event {
			return ev
		}
		if ev["event"] == "result" {
			t.Fatalf("the script ended while waiting for %q: %v", event, ev)
		}
	}
	t.Fatalf("the script exited while waiting for %q", event)
	return nil
}

// TestOpenIDClient runs openid-client v6 as the consumption device against
// the OP over mutual TLS (RFC 8705 §2.1) in poll and ping modes (CIBA Core
// 1.0 §5), with the user approving or denying on an enrolled device. An
// approval gives an access token bound to the script's certificate
// (cnf.x5t#S256, RFC 8705 §3.1) and an ID token openid-client validated
// with the client's registered algorithm; a denial gives access_denied
// (CIBA Core 1.0 §11), after a ping in ping mode (§10.2). Each run has an
// OP of its own, so that the request its device sees is its own.
func TestOpenIDClient(t *testing.T) {
	requireNode(t)
	notify := newNotifyTLS(t)
	tests := []struct {
		name       string
		mode       oauth.DeliveryMode
		idTokenAlg string
		approve    bool
	}{
		{"poll approve", oauth.ModePoll, "", true},
		{"poll deny", oauth.ModePoll, "", false},
		{"ping approve", oauth.ModePing, "PS256", true},
		{"ping deny", oauth.ModePing, "ES256", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := startEnv(t, notify)
			id := "rp-" + strings.ReplaceAll(tt.name, " ", "-")
			binding := "interop " + tt.name
			cfg := map[string]any{
				"issuer": e.srv.URL, "clientId": id, "caFile": e.srv.OP.Dir.CAFile(), "mode": string(tt.mode),
				"loginHint": optest.DefaultUser, "scope": "openid profile", "bindingMessage": binding,
				"notifyCertFile": notify.certFile, "notifyKeyFile": notify.keyFile, "timeoutMs": (runTimeout - 2*time.Second).Milliseconds(),
			}
			if tt.idTokenAlg != "" {
				cfg["idTokenAlg"] = tt.idTokenAlg
			}
			if tt.mode == oauth.ModePing {
				// The client's notification endpoint is the script's own
				// listener, known once it runs.
				cfg["certFile"], cfg["keyFile"] = filepath.Join(e.tmp, id+".pem"), filepath.Join(e.tmp, id+"-key.pem")
				s := e.runScript(t, cfg)
				endpoint, _ := s.next(t, "listening")["endpoint"].(string)
				rp := e.register(t, id, tt.mode, endpoint, tt.idTokenAlg)
				fmt.Fprintln(s.stdin, "go")
				e.finish(t, s, rp, binding, tt.approve, true)
				return
			}
			rp := e.register(t, id, tt.mode, "", tt.idTokenAlg)
			cfg["certFile"], cfg["keyFile"] = rp.certFile, rp.keyPEM
			e.finish(t, e.runScript(t, cfg), rp, binding, tt.approve, false)
		})
	}
}

// finish plays the user on the device and checks what the script saw.
func (e *env) finish(t *testing.T, s *script, rp *rpClient, binding string, approve, ping bool) {
	t.Helper()
	started := s.next(t, "started")
	if started["interval"] != float64(1) {
		t.Errorf("acknowledgement %v: want interval 1 for %s", started, rp.id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	req, err := e.srv.WaitPending(ctx)
	if err != nil {
		t.Fatalf("no authentication request for %s reached the device: %v", rp.id, err)
	}
	if req.ClientID != rp.id || req.User != optest.DefaultUser || req.BindingMessage != binding {
		t.Errorf("device shows %+v, want client %s, user %s, binding message %q", req, rp.id, optest.DefaultUser, binding)
	}
	decide := e.srv.Deny
	if approve {
		decide = e.srv.Approve
	}
	if err := decide(ctx, req.AuthReqID); err != nil {
		t.Fatalf("decision refused: %v", err)
	}

	if ping {
		p := s.next(t, "pinged")
		body, _ := p["body"].(map[string]any)
		if p["bearer_ok"] != true || len(body) != 1 || body["auth_req_id"] != req.AuthReqID || p["content_type"] != "application/json" {
			t.Errorf("ping %v: want the client_notification_token and exactly {\"auth_req_id\"} as JSON (CIBA Core 1.0 §10.2)", p)
		}
	}
	res := s.next(t, "result")
	if !approve {
		if res["ok"] != false || res["error"] != oauth.ErrAccessDenied {
			t.Fatalf("result %v, want access_denied", res)
		}
		return
	}
	if res["ok"] != true {
		t.Fatalf("result %v", res)
	}
	tok, _ := res["token"].(map[string]any)
	if !strings.EqualFold(fmt.Sprint(tok["token_type"]), "Bearer") {
		t.Errorf("token_type %v", tok["token_type"])
	}
	// The access token verifies with the OP's key and is bound to the
	// script's certificate (RFC 8705 §3.1).
	_, esKey, err := e.srv.OP.Dir.SigningKeys()
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(fmt.Sprint(tok["access_token"]), claims, func(*jwt.Token) (any, error) { return esKey.Public(), nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(e.srv.URL)); err != nil {
		t.Fatalf("access token: %v", err)
	}
	cnf, _ := claims["cnf"].(map[string]any)
	if want := pki.ThumbprintS256(rp.cert); cnf["x5t#S256"] != want {
		t.Errorf("access token cnf %v, want x5t#S256 %s of the script's certificate", claims["cnf"], want)
	}
	idt, _ := res["id_token_claims"].(map[string]any)
	if aud, _ := idt["aud"].([]any); idt["sub"] != optest.DefaultUser || len(aud) != 1 || aud[0] != rp.id || idt[oauth.ClaimAuthReqID] != req.AuthReqID {
		t.Errorf("ID token claims %v", idt)
	}
}
