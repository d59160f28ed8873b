package op

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

// TestPublishedKeys: after a rotation the JWKS carries the new signing keys
// and the published old ones, and an access token signed by an old key
// still works at userinfo; without the old keys published it does not.
func TestPublishedKeys(t *testing.T) {
	old := newFixture(t)
	at := old.tokensFor(t, "client1", nil).str("access_token")
	if at == "" {
		t.Fatal("no access token")
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	es, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rotated := newFixture(t, func(c *Config) {
		c.RS256Key, c.ES256Key = rs, es
		c.PublishedKeys = []crypto.PublicKey{old.rsKey.Public(), old.esKey.Public(), old.esKey.Public()}
	})
	r := rotated.do(t, newRequest("GET", pathJWKS, "", ""), nil)
	keys, _ := r.body["keys"].([]any)
	if r.status != 200 || len(keys) != 4 {
		t.Fatalf("jwks after a rotation: %d %s; want 4 keys (a duplicate published key once)", r.status, r.raw)
	}
	if r := rotated.do(t, userinfoReq("GET", at), old.certs["client1"]); r.status != 200 {
		t.Fatalf("userinfo with a token of a published key: %d %s", r.status, r.raw)
	}
	unpublished := newFixture(t, func(c *Config) { c.RS256Key, c.ES256Key = rs, es })
	if r := unpublished.do(t, userinfoReq("GET", at), old.certs["client1"]); r.status != 401 {
		t.Fatalf("userinfo with a token of an unknown key: %d, want 401", r.status)
	}
	if _, err := New(Config{Issuer: issuer, Clients: old.reg, Users: old.reg, Store: old.store, ClientCAs: old.p.cfg.ClientCAs,
		RS256Key: rs, PublishedKeys: []crypto.PublicKey{"not a key"}}); err == nil {
		t.Fatal("New accepted a published key that is not a key")
	}
}
