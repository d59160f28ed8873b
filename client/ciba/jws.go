package ciba

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Signing algorithms. The client signs with PS256 or ES256 only (FAPI-CIBA
// ID1 §5.2.2 and FAPI 1.0 Advanced §8.6), and accepts ID tokens signed with
// RS256, PS256 or ES256; "none" and the HMAC algorithms are never accepted.
const (
	AlgRS256 = "RS256"
	AlgPS256 = "PS256"
	AlgES256 = "ES256"
)

// DefaultIDTokenAlgorithms are the ID token signing algorithms accepted
// when IDTokenConfig.Algorithms is empty.
var defaultIDTokenAlgorithms = []string{AlgRS256, AlgPS256, AlgES256}

// signingAlg returns the JWS algorithm the client uses with key: ES256
// for an ECDSA P-256 key, PS256 for an RSA key of 2048 bits or more.
func signingAlg(key crypto.Signer) (string, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", errors.New("ciba: an ECDSA signing key must use the P-256 curve (ES256)")
		}
		return AlgES256, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return "", errors.New("ciba: an RSA signing key must have at least 2048 bits (PS256)")
		}
		return AlgPS256, nil
	}
	return "", fmt.Errorf("ciba: unsupported signing key type %T (want ECDSA P-256 or RSA)", key)
}

// signJWT signs claims with key as a compact JWS of type typ, with kid in
// the header when it is not empty.
func signJWT(key crypto.Signer, kid, typ string, claims jwt.MapClaims) (string, error) {
	alg, err := signingAlg(key)
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	if typ != "" {
		t.Header["typ"] = typ
	}
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("ciba: sign JWT: %w", err)
	}
	return s, nil
}

// newJTI returns a fresh JWT ID: 128 random bits, base64url.
func newJTI() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func unix(t time.Time) int64 { return t.Unix() }
