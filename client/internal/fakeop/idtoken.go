package fakeop

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/url"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// IDToken asks the OP to add an id_token to a token reply, signed ES256
// with its current key. The defaults are a valid ID token for the request:
// iss, sub "user", aud the client_id, iat now, exp in 5 minutes, at_hash
// of the access token, rt_hash of a refresh token, and the auth_req_id
// claim of a CIBA grant. Tests tamper with it through the fields.
type IDToken struct {
	// Claims override the defaults; a nil value removes the claim.
	Claims map[string]any
	// Header overrides header members; a nil value removes one.
	Header map[string]any
	// Key signs instead of the OP's key, so the signature does not verify.
	Key *ecdsa.PrivateKey
	// Alg, when "none", sends an unsigned token; when "HS256", a token
	// MACed with the OP's JWKS document as the secret.
	Alg string
}

// signKey is one signing key of the OP.
type signKey struct {
	kid string
	key *ecdsa.PrivateKey
}

// JWKS is the OP's public key set.
func (op *OP) JWKS() pki.JWKS {
	op.mu.Lock()
	defer op.mu.Unlock()
	set := pki.JWKS{Keys: []pki.JWK{}}
	for _, k := range op.keys {
		if j, err := pki.PublicJWK(&k.key.PublicKey, k.kid, "ES256"); err == nil {
			set.Keys = append(set.Keys, j)
		}
	}
	return set
}

// RotateKey replaces the OP's signing key by a new one with a new kid;
// the JWKS then holds only the new key.
func (op *OP) RotateKey(tb testing.TB) {
	tb.Helper()
	k := signKey{kid: "fake-" + serial(tb).Text(36)[:8], key: newKey(tb)}
	op.mu.Lock()
	op.keys = []signKey{k}
	op.mu.Unlock()
}

// SigningKey returns the current signing key and its kid.
func (op *OP) SigningKey() (*ecdsa.PrivateKey, string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	k := op.keys[len(op.keys)-1]
	return k.key, k.kid
}

// MintIDToken returns an ID token built from spec for a token response
// holding accessToken and refreshToken, issued to the request form.
func (op *OP) MintIDToken(tb testing.TB, spec *IDToken, form url.Values, accessToken, refreshToken string) string {
	tb.Helper()
	s, err := op.mintIDToken(spec, form, accessToken, refreshToken)
	if err != nil {
		tb.Fatalf("fakeop: %v", err)
	}
	return s
}

func (op *OP) mintIDToken(spec *IDToken, form url.Values, accessToken, refreshToken string) (string, error) {
	key, kid := op.SigningKey()
	now := op.cfg.Now()
	claims := map[string]any{
		"iss": op.Issuer,
		"sub": "user",
		"aud": op.cfg.ClientID,
		"iat": now.Unix(),
		"exp": now.Unix() + 300,
	}
	if accessToken != "" {
		claims["at_hash"] = HalfHash(accessToken)
	}
	if refreshToken != "" {
		claims[oauth.ClaimRTHash] = HalfHash(refreshToken)
	}
	if id := form.Get(oauth.ParamAuthReqID); id != "" {
		claims[oauth.ClaimAuthReqID] = id
	}
	header := map[string]any{"alg": "ES256", "typ": "JWT", "kid": kid}
	override(claims, spec.Claims)
	override(header, spec.Header)
	if spec.Alg != "" {
		header["alg"] = spec.Alg
	}
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	var sig []byte
	switch spec.Alg {
	case "none":
	case "HS256":
		secret, _ := json.Marshal(op.JWKS())
		sig, err = jwt.SigningMethodHS256.Sign(input, secret)
	default:
		if spec.Key != nil {
			key = spec.Key
		}
		sig, err = jwt.SigningMethodES256.Sign(input, key)
	}
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func override(dst, src map[string]any) {
	for k, v := range maps.All(src) {
		if v == nil {
			delete(dst, k)
		} else {
			dst[k] = v
		}
	}
}

// HalfHash is the at_hash/rt_hash of token for ES256 (OpenID Connect
// Core 1.0 §3.1.3.6).
func HalfHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
