package op

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// clientKey is a key a test client signs JWTs with.
type clientKey struct {
	alg string
	kid string
	key crypto.Signer
}

// clientKeys are generated once: RSA generation is slow under -race.
var clientKeySet = sync.OnceValues(func() (map[string]clientKey, error) {
	es, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	es2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return map[string]clientKey{
		"es":    {"ES256", "es-1", es},
		"ps":    {"PS256", "ps-1", rs},
		"rs":    {"RS256", "ps-1", rs},  // the same RSA key, signing with RS256
		"other": {"ES256", "es-1", es2}, // another client's key, same kid
	}, nil
})

func testClientKey(t testing.TB, name string) clientKey {
	t.Helper()
	keys, err := clientKeySet()
	if err != nil {
		t.Fatal(err)
	}
	return keys[name]
}

// jwksOf returns the public JWKS of the named test keys.
func jwksOf(t testing.TB, names ...string) *pki.JWKS {
	t.Helper()
	set := &pki.JWKS{}
	for _, n := range names {
		k := testClientKey(t, n)
		jwk, err := pki.PublicJWK(k.key.Public(), k.kid, "")
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk)
	}
	return set
}

// signJWT signs claims with the named test key; header entries override
// the defaults (alg, kid, typ JWT). The claims are a map so a test can
// omit or mistype any of them.
func signJWT(t testing.TB, keyName string, claims map[string]any, header map[string]any) string {
	t.Helper()
	k := testClientKey(t, keyName)
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.alg), jwt.MapClaims(claims))
	tok.Header["kid"] = k.kid
	for name, v := range header {
		if v == nil {
			delete(tok.Header, name)
		} else {
			tok.Header[name] = v
		}
	}
	s, err := tok.SignedString(k.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsignedJWT is an alg=none JWT with claims.
func unsignedJWT(t testing.TB, claims map[string]any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(claims)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hmacJWT is an HS256 JWT keyed with the given secret.
func hmacJWT(t testing.TB, claims map[string]any, secret []byte) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// addClient registers c in the fixture, with the defaults of a poll-mode
// CIBA client.
func (f *fixture) addClient(c registry.Client) {
	if c.DeliveryMode == "" {
		c.DeliveryMode = oauth.ModePoll
	}
	if c.GrantTypes == nil {
		c.GrantTypes = []string{oauth.GrantTypeCIBA}
	}
	f.reg.clients[c.ID] = &c
}

// selfSigned returns a self-signed client certificate for key, valid
// around now.
func selfSigned(t testing.TB, key crypto.Signer, cn string, now time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// jwkWithCert is the public JWK of cert's key with cert in x5c
// (RFC 8705 §2.2.2).
func jwkWithCert(t testing.TB, cert *x509.Certificate) pki.JWK {
	t.Helper()
	jwk, err := pki.PublicJWK(cert.PublicKey, "", "")
	if err != nil {
		t.Fatal(err)
	}
	jwk.X5c = []string{base64.StdEncoding.EncodeToString(cert.Raw)}
	return jwk
}
