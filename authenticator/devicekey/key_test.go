package devicekey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/cibalab/cibalab/shared/pki"

	"github.com/golang-jwt/jwt/v5"
)

func TestThumbprintKnownValue(t *testing.T) {
	// The ES256 example key of RFC 7515 Appendix A.3; the expected value is
	// SHA-256 over {"crv":"P-256","kty":"EC","x":"f83O…","y":"x_FE…"}
	// computed outside Go (Python hashlib), per RFC 7638 §3.
	jwk := pki.JWK{Kty: "EC", Crv: "P-256",
		X:   "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
		Y:   "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
		Kid: "ignored", Alg: "ES256", Use: "sig"}
	const want = "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"
	if got := Thumbprint(jwk); got != want {
		t.Fatalf("Thumbprint = %s, want %s", got, want)
	}
}

func TestGenerateSignVerify(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	jwk := k.PublicJWK()
	if jwk.Kty != "EC" || jwk.Crv != "P-256" || jwk.Alg != "ES256" || jwk.Use != "sig" {
		t.Fatalf("PublicJWK = %+v", jwk)
	}
	if jwk.Kid == "" || jwk.Kid != k.KeyID() || jwk.Kid != Thumbprint(jwk) {
		t.Fatalf("kid %q, KeyID %q, thumbprint %q", jwk.Kid, k.KeyID(), Thumbprint(jwk))
	}
	pub, err := jwk.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := k.Sign(jwt.MapClaims{"sub": "user"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Parse(signed, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithValidMethods([]string{"ES256"}))
	if err != nil {
		t.Fatalf("signature does not verify with the published JWK: %v", err)
	}
	if tok.Header["kid"] != k.KeyID() {
		t.Fatalf("header kid = %v, want %s", tok.Header["kid"], k.KeyID())
	}
	other, _ := Generate()
	if _, err := jwt.Parse(signed, func(*jwt.Token) (any, error) { return other.Public(), nil }); err == nil {
		t.Fatal("signature verifies with another key")
	}
}

func TestFromECDSARejectsOtherCurves(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]*ecdsa.PrivateKey{"nil": nil, "P-384": priv} {
		if _, err := FromECDSA(key); err == nil {
			t.Errorf("%s: FromECDSA accepted it", name)
		}
	}
}

func TestPEMRoundTrip(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	data, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePEM(data)
	if err != nil || back.KeyID() != k.KeyID() {
		t.Fatalf("ParsePEM = %v, %v; want kid %s", back, err, k.KeyID())
	}
	for name, bad := range map[string][]byte{
		"empty":     nil,
		"garbage":   []byte("not a key"),
		"truncated": data[:len(data)/2],
	} {
		if _, err := ParsePEM(bad); err == nil {
			t.Errorf("%s: ParsePEM accepted it", name)
		}
	}
}
