package devicekey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cibalab/cibalab/shared/pki"

	"github.com/golang-jwt/jwt/v5"
)

// Alg is the JWS algorithm of every device key (RFC 7518 §3.4).
const Alg = "ES256"

// Key is a device's ES256 signing key. The zero value is not usable; build
// one with [Generate] or [FromECDSA].
type Key struct {
	priv *ecdsa.PrivateKey
	jwk  pki.JWK
}

// Generate returns a fresh P-256 key from crypto/rand.
func Generate() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devicekey: generate: %w", err)
	}
	return FromECDSA(priv)
}

// FromECDSA wraps an existing P-256 private key.
func FromECDSA(priv *ecdsa.PrivateKey) (*Key, error) {
	if priv == nil || priv.Curve != elliptic.P256() {
		return nil, errors.New("devicekey: key must be ECDSA P-256")
	}
	jwk, err := pki.PublicJWK(&priv.PublicKey, "", Alg)
	if err != nil {
		return nil, fmt.Errorf("devicekey: %w", err)
	}
	jwk.Kid = Thumbprint(jwk)
	return &Key{priv: priv, jwk: jwk}, nil
}

// Thumbprint is the RFC 7638 §3 JWK thumbprint of an EC public key: the
// unpadded base64url SHA-256 of its required members in lexical order.
func Thumbprint(jwk pki.JWK) string {
	// json.Marshal of a struct keeps field order: crv, kty, x, y is the
	// lexical order RFC 7638 §3.2 requires, with no whitespace.
	canon, _ := json.Marshal(struct {
		Crv string `json:"crv"`
		Kty string `json:"kty"`
		X   string `json:"x"`
		Y   string `json:"y"`
	}{jwk.Crv, jwk.Kty, jwk.X, jwk.Y})
	sum := sha256.Sum256(canon)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// KeyID is the key's "kid": its RFC 7638 thumbprint.
func (k *Key) KeyID() string { return k.jwk.Kid }

// PublicJWK is the public half of the key as a JWK with kid, alg ES256 and
// use sig, as a device registers it at enrollment.
func (k *Key) PublicJWK() pki.JWK { return k.jwk }

// Public is the public half of the key.
func (k *Key) Public() *ecdsa.PublicKey { return &k.priv.PublicKey }

// Sign returns a compact JWS (RFC 7515 §7.1) of claims signed with ES256,
// whose header carries the key's kid.
func (k *Key) Sign(claims jwt.Claims) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = k.jwk.Kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		return "", fmt.Errorf("devicekey: sign: %w", err)
	}
	return s, nil
}

// MarshalPEM encodes the private key as a PKCS#8 "PRIVATE KEY" PEM block,
// for a file only the device's owner may read (pki.WriteSecretFile).
func (k *Key) MarshalPEM() ([]byte, error) {
	data, err := pki.EncodePrivateKeyPEM(k.priv)
	if err != nil {
		return nil, fmt.Errorf("devicekey: %w", err)
	}
	return data, nil
}

// ParsePEM decodes a key written by MarshalPEM; anything but an ECDSA
// P-256 private key is an error.
func ParsePEM(data []byte) (*Key, error) {
	signer, err := pki.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("devicekey: %w", err)
	}
	priv, ok := signer.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("devicekey: key must be ECDSA P-256")
	}
	return FromECDSA(priv)
}
