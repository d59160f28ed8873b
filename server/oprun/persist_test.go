package oprun

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/cibalab/cibalab/shared/pki"
)

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// startOP starts an OP on dir with Persist and registers its Close.
func startOP(t *testing.T, dir, natsURL string, clock *testClock) *Server {
	t.Helper()
	s, err := Start(Config{StateDir: dir, Addr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0", NATSURL: natsURL, Persist: true, PasswordIterations: 1000, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// clientFor returns an HTTPS client presenting the default client's
// certificate and trusting the state directory's CA.
func clientFor(t *testing.T, s *Server) *http.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(s.Report.ClientCertPEM, s.Report.ClientKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := pki.CertPoolFromPEMFile(s.Dir.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// post sends form to the endpoint below s's issuer and decodes the JSON
// answer.
func post(t *testing.T, s *Server, endpoint string, form url.Values) (int, map[string]any) {
	t.Helper()
	form.Set("client_id", "cibaConformance")
	resp, err := clientFor(t, s).Post(s.Issuer+endpoint, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func backchannel(t *testing.T, s *Server) string {
	t.Helper()
	status, body := post(t, s, "/mtls/bc-authorize", url.Values{"scope": {"openid"}, "login_hint": {"user"}, "binding_message": {"persist"}})
	id, _ := body["auth_req_id"].(string)
	if status != http.StatusOK || id == "" {
		t.Fatalf("bc-authorize: %d %v", status, body)
	}
	return id
}

func wantPending(t *testing.T, s *Server, authReqID string) {
	t.Helper()
	status, body := post(t, s, "/mtls/token", url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {authReqID}})
	if status != http.StatusBadRequest || body["error"] != "authorization_pending" {
		t.Fatalf("poll: %d %v, want 400 authorization_pending", status, body)
	}
}

// TestPersistSurvivesRestart: with Persist, a request created before the
// OP stops is still pending after it starts again on the same state
// directory, instead of unknown (invalid_grant).
func TestPersistSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	clock := &testClock{t: time.Now()}
	first := startOP(t, dir, "", clock)
	id := backchannel(t, first)
	first.Close()

	clock.Add(10 * time.Second) // past the interval, within the expiry
	second := startOP(t, dir, "", clock)
	wantPending(t, second, id)
}

// TestPersistSharedNATS: two OPs on one external NATS server with
// JetStream share their requests: one accepts the request, the other
// answers the poll.
func TestPersistSharedNATS(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	dir := filepath.Join(t.TempDir(), "state")
	clock := &testClock{t: time.Now()}
	a := startOP(t, dir, ns.ClientURL(), clock)
	b := startOP(t, dir, ns.ClientURL(), clock)
	id := backchannel(t, a)
	clock.Add(10 * time.Second)
	wantPending(t, b, id)
}
