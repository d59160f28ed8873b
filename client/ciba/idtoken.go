package ciba

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/shared/oauth"
)

// Defaults of the ID token checks.
const (
	// DefaultIDTokenMaxAge is how old an ID token's iat may be when
	// IDTokenConfig.MaxAge is zero.
	DefaultIDTokenMaxAge = 24 * time.Hour
	// DefaultClockSkew is the tolerance on exp, iat and nbf when
	// IDTokenConfig.Skew is zero.
	DefaultClockSkew = time.Minute
)

// KeySource finds the public key that checks a JWS signature; [KeySet]
// implements it.
type KeySource interface {
	Key(ctx context.Context, kid, alg string) (crypto.PublicKey, error)
}

// IDTokenConfig configures an [IDTokenValidator].
type IDTokenConfig struct {
	// Issuer is the exact iss the ID token must carry.
	Issuer string
	// ClientID must be one of the token's audiences.
	ClientID string
	// Keys gives the provider's signing keys, usually a *KeySet.
	Keys KeySource
	// Algorithms are the accepted JWS algorithms; empty means RS256,
	// PS256 and ES256. "none" and HS256/HS384/HS512 are always refused.
	Algorithms []string
	// MaxAge is how old iat may be; 0 means DefaultIDTokenMaxAge.
	MaxAge time.Duration
	// Skew is the tolerance on exp, iat and nbf; 0 means DefaultClockSkew.
	Skew time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// IDTokenValidator checks ID tokens as OpenID Connect Core 1.0 §3.1.3.7
// asks, plus the CIBA claims of CIBA Core 1.0 §10.3.1. It is safe for
// concurrent use when its KeySource is.
type IDTokenValidator struct {
	cfg IDTokenConfig
}

// NewIDTokenValidator returns a validator for cfg; Issuer, ClientID and
// Keys are required.
func NewIDTokenValidator(cfg IDTokenConfig) (*IDTokenValidator, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.Keys == nil {
		return nil, errors.New("ciba: the ID token validator needs Issuer, ClientID and Keys")
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = defaultIDTokenAlgorithms
	}
	for _, a := range cfg.Algorithms {
		if !slices.Contains(defaultIDTokenAlgorithms, a) {
			return nil, fmt.Errorf("ciba: ID token algorithm %q is not supported (RS256, PS256, ES256)", a)
		}
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultIDTokenMaxAge
	}
	if cfg.Skew <= 0 {
		cfg.Skew = DefaultClockSkew
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &IDTokenValidator{cfg: cfg}, nil
}

// Expect lists what an ID token must be bound to.
type Expect struct {
	// AuthReqID, when set, must equal the
	// urn:openid:params:jwt:claim:auth_req_id claim if the token has one.
	AuthReqID string
	// AccessToken, when set, must match at_hash if the token has one.
	AccessToken string
	// RefreshToken, when set, must match
	// urn:openid:params:jwt:claim:rt_hash if the token has one.
	RefreshToken string
	// Push requires the binding claims of push mode (CIBA Core 1.0
	// §10.3.1): auth_req_id and at_hash always, rt_hash with a refresh
	// token.
	Push bool
	// Issuer and Subject, when set, must equal the iss and sub claims: an
	// ID token returned by a refresh must name the same issuer and user as
	// the original one (OpenID Connect Core 1.0 §12.2).
	Issuer, Subject string
}

// IDToken holds the checked claims of an ID token.
type IDToken struct {
	Issuer    string
	Subject   string
	Audience  []string
	Expiry    time.Time
	IssuedAt  time.Time
	AuthReqID string
	// Algorithm is the JWS alg that signed the token.
	Algorithm string
	// Claims are all the claims; numbers are json.Number.
	Claims map[string]any
}

// IDTokenError reports an ID token that failed a check of OpenID Connect
// Core 1.0 §3.1.3.7 or CIBA Core 1.0 §10.3.1.
type IDTokenError struct {
	// Problem says, in one line, what was wrong.
	Problem string
}

// Error implements the error interface.
func (e *IDTokenError) Error() string { return "ciba: invalid id_token: " + e.Problem }

func idTokenErrorf(format string, args ...any) error {
	return &IDTokenError{Problem: fmt.Sprintf(format, args...)}
}

// Validate checks raw: a JWS signed with an accepted algorithm by a key of
// the provider; iss exactly the issuer; aud containing the client_id (an
// array with other audiences needs azp equal to the client_id); exp not
// past; iat present, not in the future and not older than MaxAge; nbf, when
// present, not in the future; sub present; and the bindings of e. Failures
// are *IDTokenError values; a failure to fetch the keys is returned as is.
func (v *IDTokenValidator) Validate(ctx context.Context, raw string, e Expect) (*IDToken, error) {
	header, err := jwsHeader(raw)
	if err != nil {
		return nil, err
	}
	alg, _ := header["alg"].(string)
	switch {
	case alg == "":
		return nil, idTokenErrorf("no alg in the JWS header")
	case strings.EqualFold(alg, "none"):
		return nil, idTokenErrorf(`alg "none" is not allowed: the ID token must be signed`)
	case strings.HasPrefix(alg, "HS"):
		return nil, idTokenErrorf("alg %q (a shared-secret MAC) is not allowed", firstLine(alg))
	case !slices.Contains(v.cfg.Algorithms, alg):
		return nil, idTokenErrorf("alg %q is not one of the accepted algorithms %s", firstLine(alg), strings.Join(v.cfg.Algorithms, ", "))
	}
	kid, _ := header["kid"].(string)
	var keyErr error
	parser := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithoutClaimsValidation(), jwt.WithJSONNumber())
	claims := jwt.MapClaims{}
	_, err = parser.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) {
		key, err := v.cfg.Keys.Key(ctx, kid, alg)
		if err != nil {
			keyErr = err
		}
		return key, err
	})
	var ke *keyError
	switch {
	case errors.As(keyErr, &ke):
		return nil, idTokenErrorf("%v", ke)
	case keyErr != nil:
		return nil, keyErr // the key set could not be fetched
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, idTokenErrorf("the signature does not verify with the provider's key")
	case err != nil:
		return nil, idTokenErrorf("malformed JWT")
	}
	return v.checkClaims(claims, alg, e)
}

// checkClaims applies OpenID Connect Core 1.0 §3.1.3.7 steps 2–5 and 9–10
// and the CIBA bindings to verified claims.
func (v *IDTokenValidator) checkClaims(claims map[string]any, alg string, e Expect) (*IDToken, error) {
	now := v.cfg.Now()
	skew := v.cfg.Skew
	t := &IDToken{Algorithm: alg, Claims: claims}
	iss, ok := claims["iss"].(string)
	switch {
	case !ok || iss == "":
		return nil, idTokenErrorf("no iss claim")
	case iss != v.cfg.Issuer:
		return nil, idTokenErrorf("iss %q is not the issuer %q", firstLine(iss), v.cfg.Issuer)
	}
	t.Issuer = iss
	aud, problem := audiences(claims["aud"])
	if problem != "" {
		return nil, idTokenErrorf("%s", problem)
	}
	if !slices.Contains(aud, v.cfg.ClientID) {
		return nil, idTokenErrorf("aud %q does not contain the client_id %q", firstLine(strings.Join(aud, " ")), v.cfg.ClientID)
	}
	azp, hasAZP := claims["azp"].(string)
	if _, present := claims["azp"]; present && (!hasAZP || azp != v.cfg.ClientID) {
		return nil, idTokenErrorf("azp is not the client_id %q", v.cfg.ClientID)
	}
	if len(aud) > 1 && !hasAZP {
		return nil, idTokenErrorf("aud has audiences other than the client_id and no azp claim names the client")
	}
	t.Audience = aud
	exp, problem := numericDate(claims, "exp")
	if problem != "" {
		return nil, idTokenErrorf("%s", problem)
	}
	if !now.Before(exp.Add(skew)) {
		return nil, idTokenErrorf("expired at %s (exp)", exp.UTC().Format(time.RFC3339))
	}
	t.Expiry = exp
	iat, problem := numericDate(claims, "iat")
	switch {
	case problem != "":
		return nil, idTokenErrorf("%s", problem)
	case iat.After(now.Add(skew)):
		return nil, idTokenErrorf("issued in the future (iat %s)", iat.UTC().Format(time.RFC3339))
	case now.Sub(iat) > v.cfg.MaxAge+skew:
		return nil, idTokenErrorf("issued too long ago (iat %s, more than %s)", iat.UTC().Format(time.RFC3339), v.cfg.MaxAge)
	}
	t.IssuedAt = iat
	if _, present := claims["nbf"]; present {
		nbf, problem := numericDate(claims, "nbf")
		if problem != "" {
			return nil, idTokenErrorf("%s", problem)
		}
		if nbf.After(now.Add(skew)) {
			return nil, idTokenErrorf("not valid before %s (nbf)", nbf.UTC().Format(time.RFC3339))
		}
	}
	if sub, ok := claims["sub"].(string); !ok || sub == "" {
		return nil, idTokenErrorf("no sub claim")
	} else {
		t.Subject = sub
	}
	if err := checkBindings(t, claims, alg, e); err != nil {
		return nil, err
	}
	return t, nil
}

// checkBindings checks iss and sub against the original ID token
// (OpenID Connect Core 1.0 §12.2), the auth_req_id claim, at_hash and
// rt_hash (CIBA Core 1.0 §10.3.1, OpenID Connect Core 1.0 §3.1.3.8).
func checkBindings(t *IDToken, claims map[string]any, alg string, e Expect) error {
	if e.Issuer != "" && t.Issuer != e.Issuer {
		return idTokenErrorf("iss is not the iss of the original ID token (OpenID Connect Core 1.0 §12.2)")
	}
	if e.Subject != "" && t.Subject != e.Subject {
		return idTokenErrorf("sub is not the sub of the original ID token (OpenID Connect Core 1.0 §12.2)")
	}
	if v, present := claims[oauth.ClaimAuthReqID]; present {
		id, ok := v.(string)
		if !ok || id == "" {
			return idTokenErrorf("the auth_req_id claim is not a string")
		}
		if e.AuthReqID != "" && id != e.AuthReqID {
			return idTokenErrorf("the auth_req_id claim is not the auth_req_id of this request")
		}
		t.AuthReqID = id
	} else if e.Push {
		return idTokenErrorf("no auth_req_id claim (CIBA Core 1.0 §10.3.1 requires it in push mode)")
	}
	for _, h := range []struct{ claim, token, name string }{
		{"at_hash", e.AccessToken, "access token"},
		{oauth.ClaimRTHash, e.RefreshToken, "refresh token"},
	} {
		v, present := claims[h.claim]
		if !present {
			if e.Push && h.token != "" {
				return idTokenErrorf("no %s claim (CIBA Core 1.0 §10.3.1 requires it in push mode)", shortClaim(h.claim))
			}
			continue
		}
		got, ok := v.(string)
		if !ok {
			return idTokenErrorf("%s is not a string", shortClaim(h.claim))
		}
		if h.token == "" {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(halfHash(alg, h.token))) != 1 {
			return idTokenErrorf("%s does not match the %s", shortClaim(h.claim), h.name)
		}
	}
	return nil
}

func shortClaim(c string) string { return strings.TrimPrefix(c, "urn:openid:params:jwt:claim:") }

// halfHash is the at_hash/rt_hash of token for alg: the base64url left
// half of its SHA-256 for the *256 algorithms (OpenID Connect Core 1.0
// §3.1.3.6).
func halfHash(_ string, token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// jwsHeader decodes the protected header of a compact JWS.
func jwsHeader(raw string) (map[string]any, error) {
	if strings.Count(raw, ".") != 2 {
		return nil, idTokenErrorf("not a compact JWS (three dot-separated parts)")
	}
	seg := raw[:strings.IndexByte(raw, '.')]
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, idTokenErrorf("the JWS header is not base64url")
	}
	var h map[string]any
	if err := json.Unmarshal(data, &h); err != nil || h == nil {
		return nil, idTokenErrorf("the JWS header is not a JSON object")
	}
	if _, ok := h["crit"]; ok {
		return nil, idTokenErrorf("the JWS header has crit extensions this client does not understand")
	}
	return h, nil
}

// audiences reads aud as a string or an array of strings.
func audiences(v any) ([]string, string) {
	switch a := v.(type) {
	case nil:
		return nil, "no aud claim"
	case string:
		if a == "" {
			return nil, "empty aud claim"
		}
		return []string{a}, ""
	case []any:
		out := make([]string, 0, len(a))
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return nil, "aud holds a non-string value"
			}
			out = append(out, s)
		}
		if len(out) == 0 {
			return nil, "empty aud claim"
		}
		return out, ""
	}
	return nil, "aud is neither a string nor an array"
}

// numericDate reads a NumericDate claim (RFC 7519 §2).
func numericDate(claims map[string]any, name string) (time.Time, string) {
	v, present := claims[name]
	if !present {
		return time.Time{}, "no " + name + " claim"
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, name + " is not a number"
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, name + " is not a valid time"
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), ""
}
