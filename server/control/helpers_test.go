package control

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/faults"
	"github.com/cibalab/cibalab/server/op"
	"github.com/cibalab/cibalab/server/oprun"
	"github.com/cibalab/cibalab/shared/channel"
)

const testToken = "test-token-0123456789"

// fixture is a running OP with its control API.
type fixture struct {
	t     testing.TB
	op    *oprun.Server
	api   *Server
	srv   *httptest.Server
	clock *Clock
}

// newFixture starts an OP (on a test clock unless realClock) and its
// control API, stopped at the test's end.
func newFixture(t testing.TB, realClock bool) *fixture {
	t.Helper()
	var clock *Clock
	now := time.Now
	if !realClock {
		clock = NewClock(nil)
		now = clock.Now
	}
	throttle := &faults.Throttle{}
	events := NewEventLog(0)
	var notifications *faults.Notifications
	cfg := oprun.Config{
		StateDir: filepath.Join(t.TempDir(), "state"), Addr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0",
		PasswordIterations: 1, Now: now,
		Provider: op.Config{Interval: time.Second},
	}
	cfg.Provider.Throttle = throttle.Hook(nil)
	cfg.Provider.Transitions = events
	cfg.Provider.WrapNotificationTransport = func(rt http.RoundTripper) http.RoundTripper {
		notifications = faults.NewNotifications(rt)
		return notifications
	}
	s, err := oprun.Start(cfg)
	if err != nil {
		t.Fatalf("oprun.Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	api, err := New(Config{Token: testToken, OP: s, Clock: clock, Notifications: notifications, Throttle: throttle, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() { srv.Close(); api.Close() })
	return &fixture{t: t, op: s, api: api, srv: srv, clock: clock}
}

// call sends a request to the API with the token and decodes a JSON
// answer into a map (nil for an empty body).
func (f *fixture) call(method, path string, body any) (int, map[string]any) {
	f.t.Helper()
	return f.callAuth(method, path, body, "Bearer "+testToken)
}

func (f *fixture) callAuth(method, path string, body any, auth string) (int, map[string]any) {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if len(data) == 0 {
		return resp.StatusCode, nil
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, data)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		f.t.Fatalf("%s %s: %s is not a JSON object: %v", method, path, data, err)
	}
	return resp.StatusCode, out
}

// want fails unless status is want.
func (f *fixture) want(method, path string, body any, want int) map[string]any {
	f.t.Helper()
	status, out := f.call(method, path, body)
	if status != want {
		f.t.Fatalf("%s %s: status %d, want %d; body %v", method, path, status, want, out)
	}
	return out
}

// wantError fails unless the API answers status with the error code.
func (f *fixture) wantError(method, path string, body any, status int, code string) {
	f.t.Helper()
	out := f.want(method, path, body, status)
	if out["error"] != code || out["error_description"] == "" {
		f.t.Fatalf("%s %s: error %v, want %q with a description", method, path, out, code)
	}
}

// opClient is an HTTP client of the OP presenting the certificate the API
// issued to clientID.
func (f *fixture) opClient(clientID string) *http.Client {
	f.t.Helper()
	out := f.want("POST", "/clients/"+clientID+"/certificates", map[string]any{"password": "pw"}, http.StatusCreated)
	cert, err := tls.X509KeyPair([]byte(out["certificate_pem"].(string)), []byte(out["private_key_pem"].(string)))
	if err != nil {
		f.t.Fatalf("the issued PEM pair: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(out["server_ca_pem"].(string))) {
		f.t.Fatal("server_ca_pem holds no certificate")
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
	}}}
	f.t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// post sends a form to an OP endpoint and decodes its JSON answer.
func (f *fixture) post(hc *http.Client, endpoint string, form url.Values) (*http.Response, map[string]any) {
	f.t.Helper()
	resp, err := hc.PostForm(f.op.Issuer+endpoint, form)
	if err != nil {
		f.t.Fatalf("POST %s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		f.t.Fatalf("POST %s: %v", endpoint, err)
	}
	return resp, out
}

// authorize starts CIBA for clientID and user and returns the auth_req_id.
func (f *fixture) authorize(hc *http.Client, clientID, user, message string) string {
	f.t.Helper()
	resp, out := f.post(hc, "/mtls/bc-authorize", url.Values{"client_id": {clientID}, "scope": {"openid"}, "login_hint": {user}, "binding_message": {message}})
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("bc-authorize: %d %v", resp.StatusCode, out)
	}
	return out["auth_req_id"].(string)
}

// token polls once.
func (f *fixture) token(hc *http.Client, clientID, id string) (*http.Response, map[string]any) {
	f.t.Helper()
	return f.post(hc, "/mtls/token", url.Values{"client_id": {clientID}, "grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {id}})
}

// waitStatus waits until the request has status (a policy decided).
func (f *fixture) waitStatus(id, status string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		out := f.want("GET", "/requests/"+id, nil, http.StatusOK)
		if out["status"] == status {
			return
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("request status %v, want %s", out["status"], status)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// announcement is a request asking for scope.
func announcement(scope string) channel.AuthRequest {
	return channel.AuthRequest{AuthReqID: "x", Scope: strings.Fields(scope)}
}
