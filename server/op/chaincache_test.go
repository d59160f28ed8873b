package op

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/shared/oauth"
)

// TestChainCache: a verified client certificate chain is remembered, and
// every property of tls_client_auth (RFC 8705 §2.1) still holds at once: a
// CA removed or added, a certificate that expired on the OP's clock since
// it was remembered, and the subject, which is matched per client on every
// request.
func TestChainCache(t *testing.T) {
	var roots atomic.Pointer[x509.CertPool]
	f := newFixture(t, func(c *Config) {
		roots.Store(mustPool(t, c))
		c.ClientCAs = func() (*x509.CertPool, error) { return roots.Load(), nil }
	})
	pending := func(t *testing.T, client string) response {
		t.Helper()
		return f.poll(t, client, "no-such-request")
	}
	authenticated := func(t *testing.T, r response) {
		t.Helper()
		if r.str("error") != oauth.ErrInvalidGrant {
			t.Fatalf("got %d %s, want an authenticated client (invalid_grant for an unknown auth_req_id)", r.status, r.raw)
		}
	}

	t.Run("verified once, then remembered", func(t *testing.T) {
		authenticated(t, pending(t, "client1"))
		authenticated(t, pending(t, "client1"))
		if n := f.p.chains.len(); n != 1 {
			t.Fatalf("%d verdicts remembered, want 1", n)
		}
	})
	t.Run("another client's subject is refused with a remembered chain", func(t *testing.T) {
		// client2 is registered with CN=client2; client1's certificate,
		// whose chain is remembered, does not carry it.
		r := f.post(t, pathToken, pollForm("client2"), f.certs["client1"])
		wantError(t, r, http.StatusUnauthorized, oauth.ErrInvalidClient)
		wantError(t, f.post(t, pathToken, pollForm("client1"), f.certs["wrongDN"]), http.StatusUnauthorized, oauth.ErrInvalidClient)
	})
	t.Run("a removed CA is distrusted at once", func(t *testing.T) {
		only := x509.NewCertPool()
		only.AddCert(mustCA(t, f, "unrelated").Cert)
		roots.Store(only)
		wantError(t, pending(t, "client1"), http.StatusUnauthorized, oauth.ErrInvalidClient)
	})
	t.Run("an added CA is trusted at once", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AddCert(f.ca.Cert)
		roots.Store(pool)
		authenticated(t, pending(t, "client1"))
	})
	t.Run("an expired certificate is refused although remembered", func(t *testing.T) {
		short, _, err := f.ca.IssueClient(pkix.Name{CommonName: "client1", Organization: []string{"cibalab"}}, ca.ClientCertOptions{Validity: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		authenticated(t, f.post(t, pathToken, pollForm("client1"), short))
		f.clock.Advance(2 * time.Hour)
		wantError(t, f.post(t, pathToken, pollForm("client1"), short), http.StatusUnauthorized, oauth.ErrInvalidClient)
		// The one-year certificate is still fine.
		authenticated(t, pending(t, "client1"))
	})
	t.Run("a certificate not valid yet is refused although remembered", func(t *testing.T) {
		f.clock.Advance(-time.Hour) // back before the short certificate above...
		future, _, err := f.ca.IssueClient(pkix.Name{CommonName: "client1", Organization: []string{"cibalab"}}, ca.ClientCertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		authenticated(t, f.post(t, pathToken, pollForm("client1"), future))
		f.clock.Advance(-2 * time.Hour) // ...and before future's NotBefore
		wantError(t, f.post(t, pathToken, pollForm("client1"), future), http.StatusUnauthorized, oauth.ErrInvalidClient)
	})
}

func pollForm(client string) map[string][]string {
	return map[string][]string{"client_id": {client}, "grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {"no-such-request"}}
}

func mustPool(t *testing.T, c *Config) *x509.CertPool {
	t.Helper()
	pool, err := c.ClientCAs()
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

func mustCA(t *testing.T, f *fixture, name string) *ca.CA {
	t.Helper()
	c, err := ca.New(ca.Config{Now: f.clock.Now}, name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestChainCacheBound: the cache keeps at most chainCacheMax verdicts, and
// forgets the verdicts of a replaced trust store first.
func TestChainCacheBound(t *testing.T) {
	f := newFixture(t)
	c := newChainCache()
	old, cur := x509.NewCertPool(), x509.NewCertPool()
	chain := []*x509.Certificate{f.certs["client1"]}
	for i := range chainCacheMax {
		k := chainKey{roots: old}
		k.chain[0], k.chain[1] = byte(i), byte(i>>8)
		c.add(k, chain)
	}
	if c.len() != chainCacheMax {
		t.Fatalf("%d verdicts, want %d", c.len(), chainCacheMax)
	}
	k := chainKey{roots: cur}
	c.add(k, chain)
	if c.len() != 1 || !c.valid(k, f.clock.Now()) {
		t.Fatalf("%d verdicts after a new trust store filled the cache; want only the new one", c.len())
	}
	for i := range 2 * chainCacheMax {
		k := chainKey{roots: cur}
		k.chain[0], k.chain[1], k.chain[2] = byte(i), byte(i>>8), 1
		c.add(k, chain)
	}
	if c.len() > chainCacheMax {
		t.Fatalf("%d verdicts, over the bound %d", c.len(), chainCacheMax)
	}
}
