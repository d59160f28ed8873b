package op

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// accessTokenAlgs are the algorithms Config.AccessTokenAlg may name, and
// the ones parseAccessToken accepts: only the OP verifies its access tokens
// (userinfo, introspection, revocation), and RFC 9068 §2.1 leaves the
// algorithm to it. Both verify whichever signs, so tokens issued before a
// restart with the other setting stay valid until they expire.
var accessTokenAlgs = []string{"ES256", "RS256"}

// accessTokenClaims are the claims of a JWT access token (RFC 9068 §2.2)
// bound to the client certificate (RFC 8705 §3.1).
type accessTokenClaims struct {
	ClientID string        `json:"client_id"`
	Scope    string        `json:"scope"`
	AuthTime int64         `json:"auth_time,omitempty"`
	ACR      string        `json:"acr,omitempty"`
	Cnf      *confirmation `json:"cnf,omitempty"`
	// AuthorizationDetails are the granted authorization_details
	// (RFC 9396 §9.1).
	AuthorizationDetails json.RawMessage `json:"authorization_details,omitempty"`
	jwt.RegisteredClaims
}

// confirmation is the cnf claim of RFC 8705 §3.1.
type confirmation struct {
	X5tS256 string `json:"x5t#S256"`
}

// idTokenClaims are the claims of an ID token (OpenID Connect Core 1.0 §2)
// with the CIBA auth_req_id and rt_hash claims (CIBA Core 1.0 §10.3.1).
type idTokenClaims struct {
	AuthTime  int64    `json:"auth_time,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	ATHash    string   `json:"at_hash,omitempty"`
	RTHash    string   `json:"urn:openid:params:jwt:claim:rt_hash,omitempty"`
	AuthReqID string   `json:"urn:openid:params:jwt:claim:auth_req_id,omitempty"`
	jwt.RegisteredClaims
}

// grant is what tokens are minted for: a user's authorization of a client,
// as an approved request or a refresh token recorded it.
type grant struct {
	Client *registry.Client
	// X5t is the x5t#S256 of the certificate the access token is bound to
	// (RFC 8705 §3.1); empty when the client presented no certificate
	// (private_key_jwt or a client secret without mutual TLS), and the
	// tokens are then plain bearer tokens (RFC 6750).
	X5t      string
	User     string
	Scope    []string
	ACR      string
	AMR      []string
	AuthTime time.Time
	// Details is the granted authorization_details, a compact JSON array
	// (RFC 9396 §7); "" for none.
	Details string
	// AuthReqID is the redeemed auth_req_id; empty on refresh.
	AuthReqID string
	// Family continues a refresh token family (rotation, RFC 6749 §6);
	// empty starts a new one. RefreshScope and RefreshExpiresAt are then
	// the family's scope and absolute expiry.
	Family           string
	RefreshScope     []string
	RefreshExpiresAt time.Time
}

// minted names what mintTokens issued, so that a push that could not be
// delivered can revoke it.
type minted struct {
	AccessTokenID  string
	AccessTokenExp time.Time
	// Family is the refresh token family; empty without a refresh token.
	Family string
}

// mintTokens issues a token response for g (CIBA Core 1.0 §10.1.1, RFC 6749
// §5.1): a JWT access token bound to g.X5t when set (RFC 8705 §3); a refresh token
// when the client is registered for the refresh_token grant, opaque (256
// random bits), stored only as a hash and bound to the same certificate; and
// an ID token when openid was granted, signed with the client's
// id_token_signed_response_alg, carrying at_hash, the auth_req_id claim and,
// with a refresh token, rt_hash (CIBA Core 1.0 §10.3.1). On error nothing
// was stored; the returned minted names the access token signed so far, if
// any, for the caller to revoke.
func (p *Provider) mintTokens(ctx context.Context, g grant, now time.Time) (*oauth.TokenResponse, minted, error) {
	var out minted
	idAlg, err := p.idTokenAlg(g.Client)
	if err != nil {
		return nil, out, err
	}
	scope := strings.Join(g.Scope, " ")
	at := accessTokenClaims{
		ClientID: g.Client.ID,
		Scope:    scope,
		AuthTime: g.AuthTime.Unix(),
		ACR:      g.ACR,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    p.cfg.Issuer,
			Subject:   g.User,
			Audience:  jwt.ClaimStrings{p.cfg.Issuer},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(p.cfg.AccessTokenTTL)),
			ID:        p.newID(16),
		},
	}
	if g.X5t != "" {
		at.Cnf = &confirmation{X5tS256: g.X5t}
	}
	if g.Details != "" {
		at.AuthorizationDetails = json.RawMessage(g.Details)
	}
	accessToken, err := p.keys.sign(p.cfg.AccessTokenAlg, "at+jwt", at)
	if err != nil {
		return nil, out, err
	}
	out.AccessTokenID, out.AccessTokenExp = at.ID, at.ExpiresAt.Time
	resp := &oauth.TokenResponse{
		AccessToken: accessToken,
		TokenType:   "Bearer",
		ExpiresIn:   int(p.cfg.AccessTokenTTL / time.Second),
		Scope:       scope,
	}
	if g.Details != "" {
		resp.AuthorizationDetails = json.RawMessage(g.Details) // RFC 9396 §7
	}

	// The refresh token is stored last, so that a failure leaves nothing
	// behind but an access token nobody received.
	var tok *store.Token
	if slices.Contains(g.Client.GrantTypes, oauth.GrantTypeRefreshToken) {
		raw := p.newID(32)
		tok = &store.Token{
			Hash:                 tokenHash(raw),
			Family:               g.Family,
			ClientID:             g.Client.ID,
			User:                 g.User,
			Scope:                g.RefreshScope,
			CertThumbprint:       g.X5t,
			ACR:                  g.ACR,
			AMR:                  slices.Clone(g.AMR),
			AuthTime:             g.AuthTime,
			AuthorizationDetails: g.Details,
			AccessTokenID:        at.ID,
			IssuedAt:             now,
			ExpiresAt:            g.RefreshExpiresAt,
		}
		if tok.Family == "" {
			tok.Family = p.newID(16)
			tok.Scope = g.Scope
			tok.ExpiresAt = now.Add(p.cfg.RefreshTokenTTL)
		}
		resp.RefreshToken = raw
	}

	if slices.Contains(g.Scope, oauth.ScopeOpenID) {
		idt := idTokenClaims{
			AuthTime:  g.AuthTime.Unix(),
			ACR:       g.ACR,
			AMR:       g.AMR,
			ATHash:    halfHash(idAlg, accessToken),
			AuthReqID: g.AuthReqID,
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    p.cfg.Issuer,
				Subject:   g.User,
				Audience:  jwt.ClaimStrings{g.Client.ID},
				IssuedAt:  jwt.NewNumericDate(now),
				ExpiresAt: jwt.NewNumericDate(now.Add(p.cfg.IDTokenTTL)),
			},
		}
		if resp.RefreshToken != "" {
			idt.RTHash = halfHash(idAlg, resp.RefreshToken)
		}
		if resp.IDToken, err = p.keys.sign(idAlg, "JWT", idt); err != nil {
			return nil, out, err
		}
	}

	if tok != nil {
		if err := p.cfg.Tokens.CreateToken(ctx, tok); err != nil {
			return nil, out, fmt.Errorf("op: store refresh token: %w", err)
		}
		out.Family = tok.Family
	}
	return resp, out, nil
}

// idTokenAlg is the client's id_token_signed_response_alg, RS256 when
// unset (OpenID Connect Core 1.0 §15.1; Dynamic Client Registration 1.0 §2).
func (p *Provider) idTokenAlg(c *registry.Client) (string, error) {
	alg := c.IDTokenSignedResponseAlg
	if alg == "" {
		alg = "RS256"
	}
	if !p.keys.has(alg) {
		return "", fmt.Errorf("op: client %s: no signing key for id_token_signed_response_alg %q", c.ID, alg)
	}
	return alg, nil
}

// revokeMinted revokes what mintTokens issued (a push that was never
// delivered).
func (p *Provider) revokeMinted(ctx context.Context, m minted, now time.Time) error {
	if err := p.cfg.Tokens.RevokeAccessToken(ctx, m.AccessTokenID, m.AccessTokenExp); err != nil {
		return err
	}
	if m.Family != "" {
		return p.revokeFamily(ctx, m.Family, now)
	}
	return nil
}

// revokeFamily revokes every refresh token of family and the access tokens
// issued with them (RFC 7009 §2.1: revoking a refresh token should also
// invalidate the access tokens of the same grant).
func (p *Provider) revokeFamily(ctx context.Context, family string, now time.Time) error {
	toks, err := p.cfg.Tokens.RevokeFamily(ctx, family, now)
	if err != nil {
		return err
	}
	for _, t := range toks {
		if t.AccessTokenID == "" {
			continue
		}
		if err := p.cfg.Tokens.RevokeAccessToken(ctx, t.AccessTokenID, now.Add(p.cfg.AccessTokenTTL)); err != nil {
			return err
		}
	}
	return nil
}

// errBadAccessToken is the cause of every access token refusal; callers
// turn it into invalid_token (RFC 6750 §3.1) or an inactive introspection
// answer (RFC 7662 §2.2) without saying more.
var errBadAccessToken = errors.New("op: invalid access token")

// parseAccessToken verifies an access token this OP issued: the signature
// with the OP's key of its alg (ES256 or RS256, whichever
// Config.AccessTokenAlg chose when it was issued) and that key's kid (or a
// published key's, Config.PublishedKeys), typ at+jwt, iss, aud and exp (RFC 9068 §4), and that
// it was not revoked (RFC 7009). The certificate binding (cnf) is the
// caller's to check.
func (p *Provider) parseAccessToken(ctx context.Context, raw string) (*accessTokenClaims, error) {
	claims := &accessTokenClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		k, ok := p.keys.byAlg[t.Method.Alg()]
		if !ok || !slices.Contains(accessTokenAlgs, k.alg) {
			return nil, errors.New("not an access token algorithm of this OP")
		}
		kid, _ := t.Header["kid"].(string)
		if kid == k.kid {
			return k.key.Public(), nil
		}
		// A key retired by a rotation still verifies its tokens.
		if pub, ok := p.keys.publishedKey(kid, k.alg); ok {
			return pub, nil
		}
		return nil, errors.New("not this OP's kid for the algorithm")
	},
		jwt.WithValidMethods(accessTokenAlgs),
		jwt.WithIssuer(p.cfg.Issuer),
		jwt.WithAudience(p.cfg.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(p.cfg.Now),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadAccessToken, err)
	}
	if typ, _ := tok.Header["typ"].(string); typ != "at+jwt" {
		return nil, fmt.Errorf("%w: not an access token of this OP", errBadAccessToken)
	}
	if claims.ID == "" || claims.ClientID == "" || (claims.Cnf != nil && claims.Cnf.X5tS256 == "") {
		return nil, fmt.Errorf("%w: missing jti or client_id, or empty cnf", errBadAccessToken)
	}
	revoked, err := p.cfg.Tokens.AccessTokenRevoked(ctx, claims.ID)
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, fmt.Errorf("%w: revoked", errBadAccessToken)
	}
	return claims, nil
}

// certThumbprint is the x5t#S256 of cert (RFC 8705 §3.1), or "" for none.
func certThumbprint(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	return pki.ThumbprintS256(cert)
}

// tokenHash is how refresh tokens are stored: the unpadded base64url
// SHA-256 of the token.
func tokenHash(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// halfHash is the at_hash / rt_hash value of token for an ID token signed
// with alg: the base64url encoding of the left half of the hash that alg
// uses (OpenID Connect Core 1.0 §3.1.3.6; CIBA Core 1.0 §10.3.1). RS256,
// PS256 and ES256 all use SHA-256.
func halfHash(alg, token string) string {
	var sum []byte
	switch {
	case strings.HasSuffix(alg, "384"):
		s := sha512.Sum384([]byte(token))
		sum = s[:]
	case strings.HasSuffix(alg, "512"):
		s := sha512.Sum512([]byte(token))
		sum = s[:]
	default:
		s := sha256.Sum256([]byte(token))
		sum = s[:]
	}
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// newID returns n random bytes, unpadded base64url: URL-safe and within the
// auth_req_id character set of CIBA Core 1.0 §7.3 and the refresh token
// character set of RFC 6749 Appendix A.17.
func (p *Provider) newID(n int) string {
	b := make([]byte, n)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
