package op

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/shared/pki"
)

// JWTs from clients (signed authentication requests, client assertions,
// login_hint_tokens) are verified here against the keys the client
// registered (its jwks). The OP accepts asymmetric algorithms only
// (CIBA Core 1.0 §7.1.1): never none, never HMAC, whatever the
// configuration says.

// maxClientJWTLifetime bounds how long a client JWT may live: the 60
// minutes FAPI-CIBA gives request objects, applied to every client JWT so
// that the jti cache stays bounded.
const maxClientJWTLifetime = 60 * time.Minute

// clientAlgs returns the JWS algorithms accepted from clients
// (Config.RequestObjectAlgs, PS256 and ES256 by default), without none
// and HMAC algorithms.
func (p *Provider) clientAlgs() []string {
	algs := p.cfg.RequestObjectAlgs
	if len(algs) == 0 {
		algs = []string{"PS256", "ES256"}
	}
	out := make([]string, 0, len(algs))
	for _, a := range algs {
		if a != "none" && !strings.HasPrefix(a, "HS") {
			out = append(out, a)
		}
	}
	return out
}

// clockSkew is the tolerance on JWT times; Config.ClockSkew, 30 s by default.
func (p *Provider) clockSkew() time.Duration {
	if p.cfg.ClockSkew > 0 {
		return p.cfg.ClockSkew
	}
	return 30 * time.Second
}

var (
	errJWTFormat    = errors.New("not a signed JWT (JWS compact serialization)")
	errJWTEncrypted = errors.New("encrypted JWTs are not supported")
	errJWTAlg       = errors.New("signature algorithm not accepted")
	errJWTNoKey     = errors.New("no registered key to verify the signature")
	errJWTSignature = errors.New("signature does not verify")
)

// verifyJWS verifies a compact JWS with one of keys (the key whose kid the
// header names, else every key) and one of algs, and returns its claims
// (numbers as json.Number) and header. It checks no claim.
func verifyJWS(token string, algs []string, keys []pki.JWK) (jwt.MapClaims, map[string]any, error) {
	switch strings.Count(token, ".") {
	case 2:
	case 4:
		return nil, nil, errJWTEncrypted
	default:
		return nil, nil, errJWTFormat
	}
	parser := jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithoutClaimsValidation(), jwt.WithJSONNumber())
	claims := jwt.MapClaims{}
	tok, err := parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		alg, _ := t.Header["alg"].(string)
		var set jwt.VerificationKeySet
		for _, k := range keys {
			if (kid != "" && k.Kid != kid) || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != alg) {
				continue
			}
			pub, err := k.PublicKey()
			if err != nil {
				continue
			}
			set.Keys = append(set.Keys, pub)
		}
		if len(set.Keys) == 0 {
			return nil, errJWTNoKey
		}
		return set, nil
	})
	switch {
	case errors.Is(err, errJWTNoKey):
		return nil, nil, errJWTNoKey
	case errors.Is(err, jwt.ErrTokenMalformed):
		return nil, nil, errJWTFormat
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && tok != nil && !slices.Contains(algs, tok.Method.Alg()):
		return nil, nil, errJWTAlg
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, nil, errJWTSignature
	case err != nil:
		return nil, nil, errJWTAlg
	}
	return claims, tok.Header, nil
}

// peekClaims decodes the claims of a compact JWS without verifying it, to
// learn which client it claims to come from.
func peekClaims(token string) (jwt.MapClaims, error) {
	if strings.Count(token, ".") != 2 {
		return nil, errJWTFormat
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser(jwt.WithJSONNumber()).ParseUnverified(token, claims); err != nil {
		return nil, errJWTFormat
	}
	return claims, nil
}

// claimString returns the string claim name; ok is false when it is
// absent, err set when it is not a string.
func claimString(c jwt.MapClaims, name string) (s string, ok bool, err error) {
	v, present := c[name]
	if !present {
		return "", false, nil
	}
	s, isString := v.(string)
	if !isString {
		return "", false, fmt.Errorf("%s is not a string", name)
	}
	return s, true, nil
}

// claimTime returns the NumericDate claim name (RFC 7519 §2); ok is false
// when it is absent, err set when it is not a finite number of seconds in a
// sane range.
func claimTime(c jwt.MapClaims, name string) (t time.Time, ok bool, err error) {
	v, present := c[name]
	if !present {
		return time.Time{}, false, nil
	}
	n, isNumber := v.(json.Number)
	if !isNumber {
		return time.Time{}, false, fmt.Errorf("%s is not a number", name)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, false, fmt.Errorf("%s is not a time", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// audience returns the aud claim, a string or an array of strings
// (RFC 7519 §4.1.3).
func audience(c jwt.MapClaims) ([]string, error) {
	switch v := c["aud"].(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, a := range v {
			s, ok := a.(string)
			if !ok {
				return nil, errors.New("aud is not a string or an array of strings")
			}
			out = append(out, s)
		}
		return out, nil
	case nil:
		return nil, errors.New("aud is missing")
	}
	return nil, errors.New("aud is not a string or an array of strings")
}

// clientKeys returns the keys a client registered, or none.
func clientKeys(set *pki.JWKS) []pki.JWK {
	if set == nil {
		return nil
	}
	return set.Keys
}
