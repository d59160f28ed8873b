package op

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

const issuer = "https://op.test/master"

// clock is a settable clock shared by the provider and the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fakeRegistry struct {
	clients map[string]*registry.Client
	users   map[string]*registry.User
}

func (r *fakeRegistry) Client(id string) (*registry.Client, error) {
	if c, ok := r.clients[id]; ok {
		cp := *c
		return &cp, nil
	}
	return nil, registry.ErrNotFound
}

func (r *fakeRegistry) User(id string) (*registry.User, error) {
	if u, ok := r.users[id]; ok {
		cp := *u
		return &cp, nil
	}
	return nil, registry.ErrNotFound
}

// recorder is an Announcer that keeps what it was told.
type recorder struct {
	mu   sync.Mutex
	reqs []channel.AuthRequest
}

func (r *recorder) Announce(_ context.Context, req channel.AuthRequest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return nil
}

type fixture struct {
	p     *Provider
	clock *clock
	store *store.Memory
	reg   *fakeRegistry
	ann   *recorder
	ca    *ca.CA
	certs map[string]*x509.Certificate // by name: "client1", "client2", "otherCA", "wrongDN"
	rsKey *rsa.PrivateKey
	esKey *ecdsa.PrivateKey
}

type keyPair struct {
	rs *rsa.PrivateKey
	es *ecdsa.PrivateKey
}

// testKeys are generated once: RSA generation is slow under -race.
var testKeys = sync.OnceValues(func() (keyPair, error) {
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return keyPair{}, err
	}
	es, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return keyPair{rs, es}, err
})

// newFixture builds a provider over a fake registry; each opt may change
// its Config before New.
func newFixture(t testing.TB, opts ...func(*Config)) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	root, err := ca.New(ca.Config{Now: clk.Now}, "test")
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.New(ca.Config{Now: clk.Now}, "other")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(c *ca.CA, cn string, o ...string) *x509.Certificate {
		cert, _, err := c.IssueClient(pkix.Name{CommonName: cn, Organization: o}, ca.ClientCertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	reg := &fakeRegistry{
		clients: map[string]*registry.Client{
			"client1": {ID: "client1", Name: "Client One", TokenEndpointAuthMethod: oauth.AuthTLSClient, SubjectDN: "CN=client1,O=cibalab",
				DeliveryMode: oauth.ModePoll, GrantTypes: []string{oauth.GrantTypeCIBA}},
			"client2": {ID: "client2", TokenEndpointAuthMethod: oauth.AuthTLSClient, SubjectDN: "CN=client2",
				DeliveryMode: oauth.ModePoll, GrantTypes: []string{oauth.GrantTypeCIBA}},
			"nociba": {ID: "nociba", TokenEndpointAuthMethod: oauth.AuthTLSClient, SubjectDN: "CN=nociba",
				DeliveryMode: oauth.ModePoll, GrantTypes: []string{"client_credentials"}},
			"pusher": {ID: "pusher", TokenEndpointAuthMethod: oauth.AuthTLSClient, SubjectDN: "CN=pusher",
				DeliveryMode: oauth.ModePush, NotificationEndpoint: "https://rp.test/cb", GrantTypes: []string{oauth.GrantTypeCIBA}},
		},
		users: map[string]*registry.User{"user": {ID: "user"}, "alice": {ID: "alice"}},
	}
	keys, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	rs, es := keys.rs, keys.es
	f := &fixture{clock: clk, store: store.NewMemory(), reg: reg, ann: &recorder{}, ca: root, rsKey: rs, esKey: es,
		certs: map[string]*x509.Certificate{
			"client1": issue(root, "client1", "cibalab"),
			"client2": issue(root, "client2"),
			"nociba":  issue(root, "nociba"),
			"pusher":  issue(root, "pusher"),
			"otherCA": issue(other, "client1", "cibalab"),
			"wrongDN": issue(root, "client1", "evil"),
		}}
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	cfg := Config{
		Issuer: issuer, Clients: reg, Users: reg, Store: f.store,
		ClientCAs: func() (*x509.CertPool, error) { return pool, nil },
		RS256Key:  rs, ES256Key: es, Announcer: f.ann, Now: clk.Now,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	f.p, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// response is what a test sees of an HTTP answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r response) str(name string) string { s, _ := r.body[name].(string); return s }

// post sends form to path with cert as the TLS client certificate (nil for none).
func (f *fixture) post(t testing.TB, path string, form url.Values, cert *x509.Certificate) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return f.do(t, req, cert)
}

func (f *fixture) do(t testing.TB, req *http.Request, cert *x509.Certificate) response {
	t.Helper()
	req.TLS = &tls.ConnectionState{HandshakeComplete: true}
	if cert != nil {
		req.TLS.PeerCertificates = []*x509.Certificate{cert}
	}
	rec := httptest.NewRecorder()
	f.p.Handler().ServeHTTP(rec, req)
	out := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &out.body); err != nil {
			t.Fatalf("body is not JSON: %v: %s", err, out.raw)
		}
	}
	return out
}

// start starts a request for client1 and returns its auth_req_id.
func (f *fixture) start(t testing.TB, extra url.Values) string {
	t.Helper()
	form := url.Values{"client_id": {"client1"}, "scope": {"openid profile"}, "login_hint": {"user"}, "binding_message": {"Message"}}
	for k, v := range extra {
		form[k] = v
	}
	r := f.post(t, pathBCAuthorize, form, f.certs["client1"])
	if r.status != http.StatusOK {
		t.Fatalf("bc-authorize: %d %s", r.status, r.raw)
	}
	return r.str("auth_req_id")
}

func (f *fixture) poll(t testing.TB, client, id string) response {
	t.Helper()
	return f.post(t, pathToken, url.Values{"client_id": {client}, "grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {id}}, f.certs[client])
}

func (f *fixture) count(t testing.TB) int {
	t.Helper()
	all, err := f.store.List(context.Background(), "", store.StatusPending)
	if err != nil {
		t.Fatal(err)
	}
	return len(all)
}

// wantError asserts an OAuth error response with exactly the members
// CIBA Core 1.0 §13 allows and Cache-Control: no-store.
func wantError(t testing.TB, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
	for k := range r.body {
		if k != "error" && k != "error_description" && k != "error_uri" {
			t.Errorf("error body has extra member %q", k)
		}
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}
}
