package interop

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"cibalab/server/ca"
	"cibalab/server/op"
	"cibalab/server/oprun"
	"cibalab/server/state"
	"cibalab/shared/oauth"
	"cibalab/shared/pki"
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

// env is one OP started in process for the interop tests, with an
// enrolled device of the user "user" and a CA for the notification
// endpoints the script serves.
type env struct {
	srv       *oprun.Server
	dev       *device
	tmp       string
	notifyCA  *ca.CA
	notifyKey string // PEM files of the notification endpoint's certificate
	notifyCrt string
}

func startEnv(t *testing.T) *env {
	t.Helper()
	tmp := t.TempDir()
	notifyCA, err := ca.New(ca.Config{}, "interop-notify")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(notifyCA.Cert)
	srv, err := oprun.Start(oprun.Config{
		StateDir:           filepath.Join(tmp, "state"),
		Addr:               "127.0.0.1:0",
		NATSAddr:           "127.0.0.1:0",
		PasswordIterations: 1000,
		Provider: op.Config{
			Interval:          time.Second,
			NotificationRoots: roots,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Provider.Close()
		srv.Close()
	})
	e := &env{srv: srv, tmp: tmp, notifyCA: notifyCA}

	// The script's notification endpoint listens on 127.0.0.1 with a
	// certificate of the CA the OP trusts for notifications.
	tc, err := notifyCA.IssueServer([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(tc.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	e.notifyCrt = writeFile(t, tmp, "notify.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tc.Certificate[0]}), false)
	e.notifyKey = writeFile(t, tmp, "notify-key.pem", keyPEM, true)

	e.dev = enrollDevice(t, srv.NATSURL, "master", state.DefaultUser, state.DefaultUserPassword)
	return e
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

// register registers a tls_client_auth CIBA client and issues its
// certificate.
func (e *env) register(t testing.TB, id string, mode oauth.DeliveryMode, endpoint, idTokenAlg string) *rpClient {
	t.Helper()
	err := e.srv.Dir.AddClient(state.Client{
		ID: id, Name: "openid-client " + string(mode), TokenEndpointAuthMethod: oauth.AuthTLSClient, SubjectDN: "CN=" + id,
		DeliveryMode: mode, NotificationEndpoint: endpoint, GrantTypes: []string{oauth.GrantTypeCIBA},
		IDTokenSignedResponseAlg: idTokenAlg,
	})
	if err != nil {
		t.Fatal(err)
	}
	issued, err := e.srv.Dir.IssueClientCert(id, state.IssueOptions{Password: "interop"})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(issued.Key)
	if err != nil {
		t.Fatal(err)
	}
	return &rpClient{
		id:       id,
		cert:     issued.Cert,
		certFile: writeFile(t, e.tmp, id+".pem", pki.EncodeCertificatePEM(issued.Cert), false),
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
// (CIBA Core 1.0 §11), after a ping in ping mode (§10.2).
func TestOpenIDClient(t *testing.T) {
	requireNode(t)
	e := startEnv(t)
	rsPub, _, err := e.srv.Dir.SigningKeys()
	if err != nil {
		t.Fatal(err)
	}
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
			id := "rp-" + strings.ReplaceAll(tt.name, " ", "-")
			cfg := map[string]any{
				"issuer": e.srv.Issuer, "clientId": id, "caFile": e.srv.Dir.CAFile(), "mode": string(tt.mode),
				"loginHint": state.DefaultUser, "scope": "openid profile", "bindingMessage": "interop " + tt.name,
				"notifyCertFile": e.notifyCrt, "notifyKeyFile": e.notifyKey, "timeoutMs": (runTimeout - 2*time.Second).Milliseconds(),
			}
			var rp *rpClient
			if tt.idTokenAlg != "" {
				cfg["idTokenAlg"] = tt.idTokenAlg
			}
			if tt.mode == oauth.ModePing {
				// The client's notification endpoint is the script's own
				// listener, known once it runs.
				cfg["certFile"], cfg["keyFile"] = filepath.Join(e.tmp, id+".pem"), filepath.Join(e.tmp, id+"-key.pem")
				s := e.runScript(t, cfg)
				endpoint, _ := s.next(t, "listening")["endpoint"].(string)
				rp = e.register(t, id, tt.mode, endpoint, tt.idTokenAlg)
				fmt.Fprintln(s.stdin, "go")
				e.finish(t, s, rp, tt.approve, true, rsPub.Public())
				return
			}
			rp = e.register(t, id, tt.mode, "", tt.idTokenAlg)
			cfg["certFile"], cfg["keyFile"] = rp.certFile, rp.keyPEM
			e.finish(t, e.runScript(t, cfg), rp, tt.approve, false, rsPub.Public())
		})
	}
}

// finish plays the user on the device and checks what the script saw.
func (e *env) finish(t *testing.T, s *script, rp *rpClient, approve, ping bool, atKey any) {
	t.Helper()
	started := s.next(t, "started")
	if started["interval"] != float64(1) {
		t.Errorf("acknowledgement %v: want interval 1 for %s", started, rp.id)
	}
	req := e.dev.waitRequest(t, rp.id, runTimeout)
	e.dev.decide(t, req.AuthReqID, approve)

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
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(fmt.Sprint(tok["access_token"]), claims, func(*jwt.Token) (any, error) { return atKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(e.srv.Issuer)); err != nil {
		t.Fatalf("access token: %v", err)
	}
	cnf, _ := claims["cnf"].(map[string]any)
	if want := pki.ThumbprintS256(rp.cert); cnf["x5t#S256"] != want {
		t.Errorf("access token cnf %v, want x5t#S256 %s of the script's certificate", claims["cnf"], want)
	}
	idt, _ := res["id_token_claims"].(map[string]any)
	if aud, _ := idt["aud"].([]any); idt["sub"] != state.DefaultUser || len(aud) != 1 || aud[0] != rp.id || idt[oauth.ClaimAuthReqID] != req.AuthReqID {
		t.Errorf("ID token claims %v", idt)
	}
}
