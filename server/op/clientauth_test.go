package op

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// TestMatchSubject covers the five registered subject kinds of RFC 8705
// §2.1.2: the DN as a DN, dNSName case-insensitively, IP as bytes, URI and
// e-mail exactly (domain case-insensitive).
func TestMatchSubject(t *testing.T) {
	root, err := ca.New(ca.Config{}, "t")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("spiffe://example.org/shop")
	cert, _, err := root.IssueClient(pkix.Name{CommonName: "Shop", Organization: []string{"Example"}}, ca.ClientCertOptions{
		DNSNames: []string{"shop.example.org"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.7"), net.ParseIP("2001:db8::1")},
		URIs: []*url.URL{u}, EmailAddresses: []string{"Ops@Example.org"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		client registry.Client
		match  bool
	}{
		{"DN", registry.Client{SubjectDN: "CN=Shop,O=Example"}, true},
		{"DN, other case and spaces", registry.Client{SubjectDN: "cn=shop, o=example"}, true},
		{"DN, other order", registry.Client{SubjectDN: "O=Example,CN=Shop"}, false},
		{"DN, missing attribute", registry.Client{SubjectDN: "CN=Shop"}, false},
		{"DNS", registry.Client{SANDNS: "SHOP.example.org"}, true},
		{"DNS other", registry.Client{SANDNS: "evil.example.org"}, false},
		{"IPv4", registry.Client{SANIP: "10.0.0.7"}, true},
		{"IPv6, other spelling", registry.Client{SANIP: "2001:0db8:0:0::1"}, true},
		{"IP other", registry.Client{SANIP: "10.0.0.8"}, false},
		{"URI", registry.Client{SANURI: "spiffe://example.org/shop"}, true},
		{"URI other", registry.Client{SANURI: "spiffe://example.org/shop2"}, false},
		{"email, domain case", registry.Client{SANEmail: "Ops@example.ORG"}, true},
		{"email, local part case", registry.Client{SANEmail: "ops@example.org"}, false},
		{"nothing registered", registry.Client{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := matchSubject(&tt.client, cert)
			if (err == nil) != tt.match {
				t.Fatalf("match = %v (%v), want %v", err == nil, err, tt.match)
			}
		})
	}
}

// authCase is one request to an endpoint with some client credentials.
type authCase struct {
	name   string
	form   url.Values        // added to the request parameters
	basic  [2]string         // Basic credentials when basic[0] != ""
	cert   *x509.Certificate // TLS client certificate, nil for none
	certOf string            // else the certificate the fixture issued to this client
	status int               // 200 for success at bc-authorize
	code   string
}

// TestClientAuthMethods covers the client authentication methods beyond
// tls_client_auth, at the backchannel authentication endpoint (CIBA Core
// 1.0 §7.2 step 1): self_signed_tls_client_auth (RFC 8705 §2.2),
// private_key_jwt (RFC 7523 §2.2, §3), client_secret_basic and
// client_secret_post (RFC 6749 §2.3.1), and one method per request
// (RFC 6749 §2.3). Failures are 401 invalid_client, several methods 400
// invalid_request, and nothing is stored.
func TestClientAuthMethods(t *testing.T) {
	f0 := newFixture(t)
	now := f0.clock.Now()
	es := testClientKey(t, "es")
	selfCert := selfSigned(t, es.key, "selfie", now)
	sameKeyOtherCert := selfSigned(t, es.key, "selfie", now)
	expiredCert := selfSigned(t, es.key, "selfie", now.Add(-3*time.Hour))
	secret := registry.GenerateClientSecret()
	secretHash, err := registry.HashClientSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(mod func(c map[string]any)) string {
		c := map[string]any{"iss": "pkjwt", "sub": "pkjwt", "aud": issuer, "exp": now.Unix() + 60, "iat": now.Unix(),
			"jti": fmt.Sprintf("a-%d", jtiCounter.Add(1))}
		if mod != nil {
			mod(c)
		}
		return signJWT(t, "es", c, nil)
	}
	pk := func(mod func(c map[string]any)) url.Values {
		return url.Values{"client_assertion_type": {clientAssertionTypeJWT}, "client_assertion": {assertion(mod)}}
	}
	replayed := pk(nil)

	tests := []authCase{
		{name: "self-signed: registered certificate", form: url.Values{"client_id": {"selfie"}}, cert: selfCert, status: 200},
		{name: "self-signed: same key, another certificate", form: url.Values{"client_id": {"selfie"}}, cert: sameKeyOtherCert, status: 401, code: oauth.ErrInvalidClient},
		{name: "self-signed: expired certificate", form: url.Values{"client_id": {"selfie"}}, cert: expiredCert, status: 401, code: oauth.ErrInvalidClient},
		{name: "self-signed: CA-issued certificate of another client", form: url.Values{"client_id": {"selfie"}}, cert: f0.certs["client1"], status: 401, code: oauth.ErrInvalidClient},
		{name: "self-signed: no certificate", form: url.Values{"client_id": {"selfie"}}, status: 401, code: oauth.ErrInvalidClient},
		{name: "tls_client_auth: self-signed certificate", form: url.Values{"client_id": {"client1"}}, cert: selfCert, status: 401, code: oauth.ErrInvalidClient},

		{name: "private_key_jwt", form: pk(nil), status: 200},
		{name: "private_key_jwt with client_id", form: merge(pk(nil), url.Values{"client_id": {"pkjwt"}}), status: 200},
		{name: "private_key_jwt with a certificate", form: pk(nil), cert: selfCert, status: 200},
		{name: "private_key_jwt aud = token endpoint", form: pk(func(c map[string]any) { c["aud"] = issuer + pathToken }), status: 200},
		{name: "private_key_jwt aud = backchannel endpoint", form: pk(func(c map[string]any) { c["aud"] = []string{issuer + pathBCAuthorize} }), status: 200},
		{name: "private_key_jwt other client_id", form: merge(pk(nil), url.Values{"client_id": {"client1"}}), status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt bad aud", form: pk(func(c map[string]any) { c["aud"] = "https://other.example" }), status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt no exp", form: pk(func(c map[string]any) { delete(c, "exp") }), status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt expired", form: pk(func(c map[string]any) { c["exp"] = now.Unix() - 120 }), status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt exp two hours ahead", form: pk(func(c map[string]any) { c["exp"] = now.Unix() + 7200 }), status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt iat in the future", form: pk(func(c map[string]any) { c["iat"] = now.Unix() + 600 }), status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt no jti", form: pk(func(c map[string]any) { delete(c, "jti") }), status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt iss differs from sub", form: pk(func(c map[string]any) { c["iss"] = "client1" }), status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt wrong assertion type", form: merge(pk(nil), url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}}), status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt no assertion type", form: url.Values{"client_id": {"pkjwt"}, "client_assertion": {assertion(nil)}}, status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt no assertion", form: url.Values{"client_id": {"pkjwt"}, "client_assertion_type": {clientAssertionTypeJWT}}, status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt signed by another key", form: url.Values{"client_assertion_type": {clientAssertionTypeJWT},
			"client_assertion": {signJWT(t, "other", map[string]any{"iss": "pkjwt", "sub": "pkjwt", "aud": issuer, "exp": now.Unix() + 60, "jti": "x1"}, nil)}},
			status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt RS256", form: url.Values{"client_assertion_type": {clientAssertionTypeJWT},
			"client_assertion": {signJWT(t, "rs", map[string]any{"iss": "pkjwt", "sub": "pkjwt", "aud": issuer, "exp": now.Unix() + 60, "jti": "x2"}, nil)}},
			status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt unsigned", form: url.Values{"client_assertion_type": {clientAssertionTypeJWT},
			"client_assertion": {unsignedJWT(t, map[string]any{"iss": "pkjwt", "sub": "pkjwt", "aud": issuer, "exp": now.Unix() + 60, "jti": "x3"})}},
			status: 401, code: oauth.ErrInvalidClient},
		{name: "private_key_jwt by an mTLS client", form: merge(pk(func(c map[string]any) { c["iss"], c["sub"] = "client1", "client1" }), url.Values{"client_id": {"client1"}}),
			cert: f0.certs["client1"], status: 401, code: oauth.ErrInvalidClient},

		{name: "client_secret_basic", form: url.Values{}, basic: [2]string{"basic", secret}, status: 200},
		{name: "client_secret_basic wrong secret", form: url.Values{}, basic: [2]string{"basic", secret + "x"}, status: 401, code: oauth.ErrInvalidClient},
		{name: "client_secret_basic sent in the body", form: url.Values{"client_id": {"basic"}, "client_secret": {secret}}, status: 401, code: oauth.ErrInvalidClient},
		{name: "client_secret_basic other client_id in the body", form: url.Values{"client_id": {"post"}}, basic: [2]string{"basic", secret}, status: 401, code: oauth.ErrInvalidClient},
		{name: "client_secret_post", form: url.Values{"client_id": {"post"}, "client_secret": {secret}}, status: 200},
		{name: "client_secret_post wrong secret", form: url.Values{"client_id": {"post"}, "client_secret": {"nope"}}, status: 401, code: oauth.ErrInvalidClient},
		{name: "client_secret_post sent as Basic", form: url.Values{}, basic: [2]string{"post", secret}, status: 401, code: oauth.ErrInvalidClient},
		{name: "client_secret_post without client_id", form: url.Values{"client_secret": {secret}}, status: 401, code: oauth.ErrInvalidClient},
		{name: "a secret from an mTLS client", form: url.Values{"client_id": {"client1"}, "client_secret": {secret}}, cert: f0.certs["client1"], status: 401, code: oauth.ErrInvalidClient},

		// A mutual-TLS client named by an HTTP Basic header with an empty
		// password (IdentityModel's default), authenticated by its
		// certificate.
		{name: "tls_client_auth: client_id in a Basic header with an empty password", form: url.Values{}, basic: [2]string{"client1", ""}, certOf: "client1", status: 200},
		{name: "tls_client_auth: the same client_id in the body too", form: url.Values{"client_id": {"client1"}}, basic: [2]string{"client1", ""}, certOf: "client1", status: 200},
		{name: "tls_client_auth: Basic client_id differs from the body's", form: url.Values{"client_id": {"client2"}}, basic: [2]string{"client1", ""}, certOf: "client1", status: 401, code: oauth.ErrInvalidClient},
		{name: "tls_client_auth: Basic with a non-empty secret", form: url.Values{}, basic: [2]string{"client1", "secret"}, certOf: "client1", status: 401, code: oauth.ErrInvalidClient},
		{name: "tls_client_auth: Basic without a certificate", form: url.Values{}, basic: [2]string{"client1", ""}, status: 401, code: oauth.ErrInvalidClient},
		{name: "tls_client_auth: Basic naming another client than the certificate", form: url.Values{}, basic: [2]string{"client2", ""}, certOf: "client1", status: 401, code: oauth.ErrInvalidClient},
		{name: "self-signed: client_id in a Basic header with an empty password", form: url.Values{}, basic: [2]string{"selfie", ""}, cert: selfCert, status: 200},
		{name: "private_key_jwt client named by an empty-password Basic header", form: url.Values{}, basic: [2]string{"pkjwt", ""}, status: 401, code: oauth.ErrInvalidClient},
		{name: "client_secret_basic with an empty password", form: url.Values{}, basic: [2]string{"basic", ""}, status: 401, code: oauth.ErrInvalidClient},
		{name: "empty-password Basic and client_secret together", form: url.Values{"client_secret": {secret}}, basic: [2]string{"client1", ""}, certOf: "client1", status: 400, code: oauth.ErrInvalidRequest},

		{name: "Basic and client_secret together", form: url.Values{"client_secret": {secret}}, basic: [2]string{"post", secret}, status: 400, code: oauth.ErrInvalidRequest},
		{name: "assertion and client_secret together", form: merge(pk(nil), url.Values{"client_id": {"post"}, "client_secret": {secret}}), status: 400, code: oauth.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.addClient(registry.Client{ID: "selfie", TokenEndpointAuthMethod: oauth.AuthSelfSignedTLSClient,
				JWKS: &pki.JWKS{Keys: []pki.JWK{jwkWithCert(t, selfCert)}}})
			f.addClient(registry.Client{ID: "pkjwt", TokenEndpointAuthMethod: registry.AuthPrivateKeyJWT, JWKS: jwksOf(t, "es", "ps")})
			f.addClient(registry.Client{ID: "basic", TokenEndpointAuthMethod: registry.AuthClientSecretBasic, ClientSecretHash: secretHash})
			f.addClient(registry.Client{ID: "post", TokenEndpointAuthMethod: registry.AuthClientSecretPost, ClientSecretHash: secretHash})
			r := f.authPost(t, pathBCAuthorize, tt)
			if tt.status == 200 {
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				return
			}
			wantError(t, r, tt.status, tt.code)
			if n := f.count(t); n != 0 || len(f.ann.reqs) != 0 {
				t.Fatal("a rejected request was stored or announced")
			}
			// RFC 6749 §5.2: a 401 after the Basic scheme carries its
			// challenge; other failures carry none.
			wantChallenge := ""
			if tt.status == 401 && tt.basic[0] != "" {
				wantChallenge = `Basic realm="` + issuer + `"`
			}
			if got := r.header.Get("WWW-Authenticate"); got != wantChallenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, wantChallenge)
			}
		})
	}
	t.Run("private_key_jwt over the client's share of the jti cache", func(t *testing.T) {
		f := newFixture(t)
		f.p.jtis = newJTICache(0, 1)
		f.addClient(registry.Client{ID: "pkjwt", TokenEndpointAuthMethod: registry.AuthPrivateKeyJWT, JWKS: jwksOf(t, "es")})
		f.addClient(registry.Client{ID: "pkjwt2", TokenEndpointAuthMethod: registry.AuthPrivateKeyJWT, JWKS: jwksOf(t, "es")})
		if r := f.authPost(t, pathBCAuthorize, authCase{form: pk(nil)}); r.status != 200 {
			t.Fatalf("first assertion: %d %s", r.status, r.raw)
		}
		wantError(t, f.authPost(t, pathBCAuthorize, authCase{form: pk(nil)}), 401, oauth.ErrInvalidClient)
		other := pk(func(c map[string]any) { c["iss"], c["sub"] = "pkjwt2", "pkjwt2" })
		if r := f.authPost(t, pathBCAuthorize, authCase{form: other}); r.status != 200 {
			t.Fatalf("another client was locked out: %d %s", r.status, r.raw)
		}
	})
	t.Run("private_key_jwt replay", func(t *testing.T) {
		f := newFixture(t)
		f.addClient(registry.Client{ID: "pkjwt", TokenEndpointAuthMethod: registry.AuthPrivateKeyJWT, JWKS: jwksOf(t, "es")})
		if r := f.authPost(t, pathBCAuthorize, authCase{form: replayed}); r.status != 200 {
			t.Fatalf("first use: %d %s", r.status, r.raw)
		}
		wantError(t, f.authPost(t, pathBCAuthorize, authCase{form: replayed}), 401, oauth.ErrInvalidClient)
	})
}

// TestClientAuthAtTokenEndpoint: each method authenticates at the token
// endpoint as it does at the backchannel endpoint (CIBA Core 1.0 §7.2
// step 1), so a pending request answers authorization_pending there.
func TestClientAuthAtTokenEndpoint(t *testing.T) {
	secret := registry.GenerateClientSecret()
	secretHash, _ := registry.HashClientSecret(secret)
	tests := []struct {
		client registry.Client
		auth   func(t *testing.T, f *fixture) authCase
	}{
		{registry.Client{ID: "pkjwt", TokenEndpointAuthMethod: registry.AuthPrivateKeyJWT, JWKS: jwksOf(t, "es")}, func(t *testing.T, f *fixture) authCase {
			now := f.clock.Now().Unix()
			return authCase{form: url.Values{"client_assertion_type": {clientAssertionTypeJWT}, "client_assertion": {signJWT(t, "es",
				map[string]any{"iss": "pkjwt", "sub": "pkjwt", "aud": issuer + pathToken, "exp": now + 60, "jti": fmt.Sprintf("t-%d", jtiCounter.Add(1))}, nil)}}}
		}},
		{registry.Client{ID: "basic", TokenEndpointAuthMethod: registry.AuthClientSecretBasic, ClientSecretHash: secretHash}, func(t *testing.T, f *fixture) authCase {
			return authCase{form: url.Values{}, basic: [2]string{"basic", secret}}
		}},
		{registry.Client{ID: "post", TokenEndpointAuthMethod: registry.AuthClientSecretPost, ClientSecretHash: secretHash}, func(t *testing.T, f *fixture) authCase {
			return authCase{form: url.Values{"client_id": {"post"}, "client_secret": {secret}}}
		}},
		// tls_client_auth named by an empty-password Basic header; the
		// bad variant sends a non-empty password.
		{registry.Client{ID: "client1", TokenEndpointAuthMethod: oauth.AuthTLSClient}, func(t *testing.T, f *fixture) authCase {
			return authCase{form: url.Values{}, basic: [2]string{"client1", ""}, cert: f.certs["client1"]}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.client.TokenEndpointAuthMethod, func(t *testing.T) {
			f := newFixture(t)
			if tt.client.ID != "client1" {
				f.addClient(tt.client)
			}
			r := f.authPost(t, pathBCAuthorize, tt.auth(t, f))
			if r.status != 200 {
				t.Fatalf("bc-authorize: %d %s", r.status, r.raw)
			}
			f.clock.Advance(10 * time.Second)
			poll := tt.auth(t, f)
			poll.form = merge(poll.form, url.Values{"grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {r.str("auth_req_id")}})
			wantError(t, f.authPost(t, pathToken, poll), 400, oauth.ErrAuthorizationPending)
			bad := tt.auth(t, f)
			bad.form = merge(bad.form, url.Values{"grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {r.str("auth_req_id")}})
			bad.basic[1] += "x"
			if bad.form.Has("client_secret") {
				bad.form.Set("client_secret", "wrong")
			}
			if bad.form.Has("client_assertion") {
				bad.form.Set("client_assertion", signJWT(t, "other", map[string]any{"iss": "pkjwt", "sub": "pkjwt", "aud": issuer, "exp": f.clock.Now().Unix() + 60, "jti": "z"}, nil))
			}
			wantError(t, f.authPost(t, pathToken, bad), 401, oauth.ErrInvalidClient)
		})
	}
}

// authPost sends an authentication request (or, with grant_type in the
// form, a token request) with c's credentials; scope and hint are added
// for the backchannel endpoint.
func (f *fixture) authPost(t testing.TB, path string, c authCase) response {
	t.Helper()
	form := url.Values{}
	if path == pathBCAuthorize {
		form = url.Values{"scope": {"openid"}, "login_hint": {"user"}}
	}
	form = merge(form, c.form)
	req := httptest.NewRequest(http.MethodPost, issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.basic[0] != "" {
		req.SetBasicAuth(url.QueryEscape(c.basic[0]), url.QueryEscape(c.basic[1]))
	}
	if c.cert == nil && c.certOf != "" {
		c.cert = f.certs[c.certOf]
	}
	return f.do(t, req, c.cert)
}

func merge(a, b url.Values) url.Values {
	out := url.Values{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
