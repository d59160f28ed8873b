package op

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/shared/pki"
)

// signingKey is one of the OP's token signing keys.
type signingKey struct {
	alg    string
	kid    string
	key    crypto.Signer
	method jwt.SigningMethod
	jwk    pki.JWK
}

// keySet holds the OP's signing keys, published at the JWKS endpoint. The
// RSA key signs both RS256 and PS256 (RFC 7518 §3.3, §3.5), so its JWK
// carries no alg member (RFC 7517 §4.4 makes it optional): one kid verifies
// both.
//
// Published keys (Config.PublishedKeys) are in the JWKS too and verify
// the OP's own access tokens by their kid, but sign nothing.
type keySet struct {
	byAlg     map[string]*signingKey
	jwks      pki.JWKS
	published map[string]crypto.PublicKey // kid → key
}

func newKeySet(rs *rsa.PrivateKey, es *ecdsa.PrivateKey, published ...crypto.PublicKey) (*keySet, error) {
	ks := &keySet{byAlg: make(map[string]*signingKey), published: map[string]crypto.PublicKey{}}
	// add publishes key once, for every algorithm in algs.
	add := func(key crypto.Signer, algs map[string]jwt.SigningMethod) error {
		jwkAlg := ""
		for alg := range algs {
			if len(algs) == 1 {
				jwkAlg = alg
			}
		}
		jwk, err := pki.PublicJWK(key.Public(), "", jwkAlg)
		if err != nil {
			return fmt.Errorf("op: signing key: %w", err)
		}
		jwk.Kid = thumbprint(jwk)
		for alg, m := range algs {
			ks.byAlg[alg] = &signingKey{alg: alg, kid: jwk.Kid, key: key, method: m, jwk: jwk}
		}
		ks.jwks.Keys = append(ks.jwks.Keys, jwk)
		return nil
	}
	if err := add(rs, map[string]jwt.SigningMethod{"RS256": jwt.SigningMethodRS256, "PS256": jwt.SigningMethodPS256}); err != nil {
		return nil, err
	}
	if es != nil {
		if err := add(es, map[string]jwt.SigningMethod{"ES256": jwt.SigningMethodES256}); err != nil {
			return nil, err
		}
	}
	for _, pub := range published {
		alg := ""
		switch k := pub.(type) {
		case *rsa.PublicKey:
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				return nil, errors.New("op: published key: an EC key must be P-256")
			}
			alg = "ES256"
		default:
			return nil, fmt.Errorf("op: published key: %T is not an RSA or EC P-256 key", pub)
		}
		jwk, err := pki.PublicJWK(pub, "", alg)
		if err != nil {
			return nil, fmt.Errorf("op: published key: %w", err)
		}
		jwk.Kid = thumbprint(jwk)
		if _, dup := ks.published[jwk.Kid]; dup || slices.ContainsFunc(ks.jwks.Keys, func(j pki.JWK) bool { return j.Kid == jwk.Kid }) {
			continue
		}
		ks.published[jwk.Kid] = pub
		ks.jwks.Keys = append(ks.jwks.Keys, jwk)
	}
	return ks, nil
}

// thumbprint is the RFC 7638 JWK thumbprint (SHA-256), used as kid.
func thumbprint(j pki.JWK) string {
	var members any
	if j.Kty == "EC" {
		members = struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
			Y   string `json:"y"`
		}{j.Crv, j.Kty, j.X, j.Y}
	} else {
		members = struct {
			E   string `json:"e"`
			Kty string `json:"kty"`
			N   string `json:"n"`
		}{j.E, j.Kty, j.N}
	}
	b, _ := json.Marshal(members) // fixed struct of strings: cannot fail
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// has reports whether the set can sign with alg.
func (ks *keySet) has(alg string) bool { _, ok := ks.byAlg[alg]; return ok }

// sign signs claims with the key of alg, setting kid and typ.
func (ks *keySet) sign(alg, typ string, claims jwt.Claims) (string, error) {
	k, ok := ks.byAlg[alg]
	if !ok {
		return "", fmt.Errorf("op: no %s signing key", alg)
	}
	t := jwt.NewWithClaims(k.method, claims)
	t.Header["kid"] = k.kid
	if typ != "" {
		t.Header["typ"] = typ
	}
	return t.SignedString(k.key)
}

// publishedKey is the published key kid if it can verify alg (RS256 for
// an RSA key, ES256 for an EC one).
func (ks *keySet) publishedKey(kid, alg string) (crypto.PublicKey, bool) {
	pub, ok := ks.published[kid]
	if !ok {
		return nil, false
	}
	switch pub.(type) {
	case *rsa.PublicKey:
		return pub, alg == "RS256"
	case *ecdsa.PublicKey:
		return pub, alg == "ES256"
	}
	return nil, false
}
