package op

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"cibalab/server/store"
	"cibalab/shared/oauth"
	"cibalab/shared/pki"
)

// accessTokenClaims are the claims of a JWT access token (RFC 9068 §2.2)
// bound to the client certificate (RFC 8705 §3.1).
type accessTokenClaims struct {
	ClientID string       `json:"client_id"`
	Scope    string       `json:"scope"`
	AuthTime int64        `json:"auth_time,omitempty"`
	ACR      string       `json:"acr,omitempty"`
	Cnf      confirmation `json:"cnf"`
	jwt.RegisteredClaims
}

// confirmation is the cnf claim of RFC 8705 §3.1.
type confirmation struct {
	X5tS256 string `json:"x5t#S256"`
}

// idTokenClaims are the claims of an ID token (OpenID Connect Core 1.0 §2)
// with the CIBA auth_req_id claim (CIBA Core 1.0 §10.3.1).
type idTokenClaims struct {
	AuthTime  int64    `json:"auth_time,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	ATHash    string   `json:"at_hash,omitempty"`
	AuthReqID string   `json:"urn:openid:params:jwt:claim:auth_req_id,omitempty"`
	jwt.RegisteredClaims
}

// mintTokens issues the token response for an approved request: a JWT
// access token bound to cert (RFC 8705 §3), and an ID token when openid was
// requested (CIBA Core 1.0 §10.1.1).
func (p *Provider) mintTokens(req *store.Request, client *authenticatedClient, now time.Time) (*oauth.TokenResponse, error) {
	scope := strings.Join(req.Scope, " ")
	at := accessTokenClaims{
		ClientID: client.ID,
		Scope:    scope,
		AuthTime: req.AuthTime.Unix(),
		ACR:      req.ACR,
		Cnf:      confirmation{X5tS256: pki.ThumbprintS256(client.Cert)},
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    p.cfg.Issuer,
			Subject:   req.User,
			Audience:  jwt.ClaimStrings{p.cfg.Issuer},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(p.cfg.AccessTokenTTL)),
			ID:        p.newID(16),
		},
	}
	accessToken, err := p.keys.sign("RS256", "at+jwt", at)
	if err != nil {
		return nil, err
	}
	resp := &oauth.TokenResponse{
		AccessToken: accessToken,
		TokenType:   "Bearer",
		ExpiresIn:   int(p.cfg.AccessTokenTTL / time.Second),
		Scope:       scope,
	}
	if hasScope(req.Scope, oauth.ScopeOpenID) {
		alg := "RS256"
		idt := idTokenClaims{
			AuthTime:  req.AuthTime.Unix(),
			ACR:       req.ACR,
			AMR:       req.AMR,
			ATHash:    halfHash(accessToken),
			AuthReqID: req.ID,
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer:    p.cfg.Issuer,
				Subject:   req.User,
				Audience:  jwt.ClaimStrings{client.ID},
				IssuedAt:  jwt.NewNumericDate(now),
				ExpiresAt: jwt.NewNumericDate(now.Add(p.cfg.IDTokenTTL)),
			},
		}
		if resp.IDToken, err = p.keys.sign(alg, "JWT", idt); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// halfHash is the at_hash / rt_hash value for RS256, ES256 and PS256: the
// base64url encoding of the left half of the SHA-256 of the token
// (OpenID Connect Core 1.0 §3.1.3.6).
func halfHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func hasScope(scopes []string, want string) bool {
	for _, s := range scopes {
		if s == want {
			return true
		}
	}
	return false
}

// newID returns n random bytes, unpadded base64url: URL-safe and within the
// auth_req_id character set of CIBA Core 1.0 §7.3.
func (p *Provider) newID(n int) string {
	b := make([]byte, n)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
