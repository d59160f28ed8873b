package op

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// introspection is an introspection response (RFC 7662 §2.2) with the
// certificate binding of RFC 8705 §3.2. An inactive token is exactly
// {"active":false}.
type introspection struct {
	Active    bool          `json:"active"`
	Scope     string        `json:"scope,omitempty"`
	ClientID  string        `json:"client_id,omitempty"`
	Sub       string        `json:"sub,omitempty"`
	Exp       int64         `json:"exp,omitempty"`
	Iat       int64         `json:"iat,omitempty"`
	Iss       string        `json:"iss,omitempty"`
	Jti       string        `json:"jti,omitempty"`
	TokenType string        `json:"token_type,omitempty"`
	Cnf       *confirmation `json:"cnf,omitempty"`
	// AuthorizationDetails are the token's granted authorization_details
	// (RFC 9396 §9.2).
	AuthorizationDetails json.RawMessage `json:"authorization_details,omitempty"`
}

// introspect is the introspection endpoint (RFC 7662). The caller
// authenticates as at the token endpoint (RFC 7662 §2.1, RFC 8705 §2);
// token is required (invalid_request otherwise) and token_type_hint is
// ignored (§2.1 allows it). A client learns about its own tokens only: a
// token of another client, unknown, malformed, expired, spent or revoked is
// {"active":false}. An active access token reports scope, client_id, sub,
// exp, iat, iss, jti, token_type Bearer and, when bound, cnf.x5t#S256
// (RFC 8705 §3.2); an active refresh token reports scope, client_id, sub,
// exp, iat and the cnf it is bound to. Both report the
// authorization_details granted, if any (RFC 9396 §9.2).
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request, form url.Values, client *authenticatedClient) error {
	raw := form.Get("token")
	if raw == "" {
		return oauth.TokenError(oauth.ErrInvalidRequest, "token is required")
	}
	out, err := p.lookupToken(r.Context(), client.ID, raw)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusOK, out)
	return nil
}

// lookupToken describes raw as clientID may see it.
func (p *Provider) lookupToken(ctx context.Context, clientID, raw string) (*introspection, error) {
	inactive := &introspection{}
	if looksLikeJWT(raw) {
		c, err := p.parseAccessToken(ctx, raw)
		switch {
		case errors.Is(err, errBadAccessToken):
			return inactive, nil
		case err != nil:
			return nil, err
		case c.ClientID != clientID:
			return inactive, nil
		}
		return &introspection{
			Active: true, Scope: c.Scope, ClientID: c.ClientID, Sub: c.Subject,
			Exp: c.ExpiresAt.Unix(), Iat: c.IssuedAt.Unix(), Iss: c.Issuer, Jti: c.ID,
			TokenType: "Bearer", Cnf: c.Cnf, AuthorizationDetails: c.AuthorizationDetails,
		}, nil
	}
	t, err := p.cfg.Tokens.GetToken(ctx, tokenHash(raw))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return inactive, nil
	case err != nil:
		return nil, err
	case t.ClientID != clientID || !t.Active(p.cfg.Now()):
		return inactive, nil
	}
	out := &introspection{
		Active: true, Scope: strings.Join(t.Scope, " "), ClientID: t.ClientID, Sub: t.User,
		Exp: t.ExpiresAt.Unix(), Iat: t.IssuedAt.Unix(),
	}
	if t.CertThumbprint != "" {
		out.Cnf = &confirmation{X5tS256: t.CertThumbprint}
	}
	if t.AuthorizationDetails != "" {
		out.AuthorizationDetails = json.RawMessage(t.AuthorizationDetails)
	}
	return out, nil
}

// looksLikeJWT reports whether raw has the three parts of a JWS compact
// serialisation; refresh tokens are base64url without dots.
func looksLikeJWT(raw string) bool { return strings.Count(raw, ".") == 2 }
