package op

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/shared/oauth"
)

// The hot paths of one CIBA flow (docs/performance.md): bc-authorize, the
// token endpoint on a pending and on an approved request, the device's
// decision, tls_client_auth with chain verification, and token signing.
// None of them asserts a speed; scripts/bench.sh measures the whole OP.

// benchFixture is a fixture whose handler is built once, as a server does.
type benchFixture struct {
	*fixture
	h http.Handler
}

func newBenchFixture(b *testing.B, opts ...func(*Config)) *benchFixture {
	f := newFixture(b, opts...)
	return &benchFixture{fixture: f, h: f.p.Handler()}
}

// benchPost runs one request through the handler, with no JSON decoding,
// and returns the status and body.
func (f *benchFixture) benchPost(path string, form url.Values, cert *x509.Certificate) (int, string) {
	req := httptest.NewRequest(http.MethodPost, issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{cert}}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// setIDTokenAlg registers alg as client1's id_token_signed_response_alg.
func (f *fixture) setIDTokenAlg(alg string) { f.reg.clients["client1"].IDTokenSignedResponseAlg = alg }

// startN starts n requests of client1 for user, outside the timer.
func (f *fixture) startN(b *testing.B, n int) []string {
	b.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = f.start(b, nil)
	}
	return ids
}

func BenchmarkBCAuthorize(b *testing.B) {
	f := newBenchFixture(b)
	form := url.Values{"client_id": {"client1"}, "scope": {"openid profile"}, "login_hint": {"user"}, "binding_message": {"Message"}}
	cert := f.certs["client1"]
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if status, body := f.benchPost(pathBCAuthorize, form, cert); status != http.StatusOK {
			b.Fatalf("bc-authorize: %d %s", status, body)
		}
		if i%10000 == 9999 {
			// Keep the store the size of a busy OP's, not of b.N.
			b.StopTimer()
			f.clock.Advance(time.Hour)
			if _, err := f.p.Sweep(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
}

// BenchmarkTokenPending polls pending requests, each at most once an
// interval, so that every answer is authorization_pending (not slow_down).
func BenchmarkTokenPending(b *testing.B) { benchTokenPending(b) }

// BenchmarkTokenPendingObserved is BenchmarkTokenPending with an Observer
// that does nothing and a transition sink that does nothing: the cost of
// observing the exchange itself.
func BenchmarkTokenPendingObserved(b *testing.B) {
	benchTokenPending(b, func(c *Config) {
		c.Observer = nopObserver{}
		c.Transitions = authreq.SinkFunc(func(context.Context, authreq.Event) {})
	})
}

type nopObserver struct{}

func (nopObserver) Exchange(context.Context, Exchange)         {}
func (nopObserver) Notification(context.Context, Notification) {}

func benchTokenPending(b *testing.B, opts ...func(*Config)) {
	f := newBenchFixture(b, opts...)
	const pool = 256
	ids := f.startN(b, pool)
	cert := f.certs["client1"]
	form := url.Values{"client_id": {"client1"}, "grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {""}}
	rounds := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i > 0 && i%pool == 0 {
			b.StopTimer()
			f.clock.Advance(5 * time.Second) // the default interval
			if rounds++; rounds == 20 {      // before the default expiry of 120 s
				f.clock.Advance(time.Hour)
				f.p.Sweep(context.Background())
				ids, rounds = f.startN(b, pool), 0
			}
			b.StartTimer()
		}
		form.Set("auth_req_id", ids[i%pool])
		if status, body := f.benchPost(pathToken, form, cert); status != http.StatusBadRequest || !strings.Contains(body, oauth.ErrAuthorizationPending) {
			b.Fatalf("token: %d %s", status, body)
		}
	}
}

// BenchmarkTokenApproved redeems approved requests: the answer carries an
// access token (ES256, the default) and an ID token of the named algorithm.
func BenchmarkTokenApproved(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run("idtoken="+alg, func(b *testing.B) {
			f := newBenchFixture(b)
			f.setIDTokenAlg(alg)
			cert := f.certs["client1"]
			form := url.Values{"client_id": {"client1"}, "grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {""}}
			const chunk = 1000
			var ids []string
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%chunk == 0 {
					b.StopTimer()
					f.clock.Advance(time.Hour)
					f.p.Sweep(context.Background())
					ids = f.approvedN(b, chunk)
					b.StartTimer()
				}
				form.Set("auth_req_id", ids[i%chunk])
				if status, body := f.benchPost(pathToken, form, cert); status != http.StatusOK {
					b.Fatalf("token: %d %s", status, body)
				}
			}
		})
	}
}

// approvedN starts and approves n requests of client1.
func (f *fixture) approvedN(b *testing.B, n int) []string {
	b.Helper()
	ids := f.startN(b, n)
	for _, id := range ids {
		if err := f.p.Decide(context.Background(), "user", id, authreq.Verdict{Approve: true, AMR: []string{"swk"}}); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// BenchmarkDecide records approvals, as the device channel does once it
// has verified the device's signed decision.
func BenchmarkDecide(b *testing.B) {
	f := newBenchFixture(b)
	ctx := context.Background()
	const chunk = 1000
	var ids []string
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%chunk == 0 {
			b.StopTimer()
			f.clock.Advance(time.Hour)
			f.p.Sweep(ctx)
			ids = f.startN(b, chunk)
			b.StartTimer()
		}
		if err := f.p.Decide(ctx, "user", ids[i%chunk], authreq.Verdict{Approve: true, AMR: []string{"swk"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientAuthTLS authenticates a tls_client_auth client (RFC 8705
// §2.1): the chain is verified against the client CAs and the subject DN
// compared.
func BenchmarkClientAuthTLS(b *testing.B) {
	f := newBenchFixture(b)
	form := url.Values{"client_id": {"client1"}}
	req := httptest.NewRequest(http.MethodPost, issuer+pathToken, nil)
	req.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{f.certs["client1"]}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.p.authenticateClient(req, form, oauth.TokenError); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientAuthTLSCold is BenchmarkClientAuthTLS with the remembered
// chain verifications forgotten before each request: a certificate's first
// request, or any request after the trust store changed.
func BenchmarkClientAuthTLSCold(b *testing.B) {
	f := newBenchFixture(b)
	form := url.Values{"client_id": {"client1"}}
	req := httptest.NewRequest(http.MethodPost, issuer+pathToken, nil)
	req.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{f.certs["client1"]}}
	b.ReportAllocs()
	for b.Loop() {
		f.p.chains = newChainCache()
		if _, err := f.p.authenticateClient(req, form, oauth.TokenError); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign signs an access token and an ID token as mintTokens does.
func BenchmarkSign(b *testing.B) {
	f := newBenchFixture(b)
	now := f.clock.Now()
	claims := idTokenClaims{
		AuthTime: now.Unix(), AMR: []string{"swk"}, ATHash: "x4Ea4u3ZbtnL2Ve5d2SKmA",
		AuthReqID: strings.Repeat("a", 43),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: "user", Audience: jwt.ClaimStrings{"client1"},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
	}
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.p.keys.sign(alg, "", claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawSignature is one bare signature over a SHA-256 digest: the
// yardstick of docs/performance.md ("OP CPU per flow / one RSA-2048
// signature").
func BenchmarkRawSignature(b *testing.B) {
	keys, err := testKeys()
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("cibalab"))
	b.Run("RSA-2048-PKCS1v15", func(b *testing.B) {
		for b.Loop() {
			if _, err := rsa.SignPKCS1v15(rand.Reader, keys.rs, crypto.SHA256, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ECDSA-P256", func(b *testing.B) {
		for b.Loop() {
			if _, err := ecdsa.SignASN1(rand.Reader, keys.es, digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
