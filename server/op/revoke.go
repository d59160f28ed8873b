package op

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// revoke is the revocation endpoint (RFC 7009). The caller authenticates as
// at the token endpoint (§2.1, RFC 8705 §2); token is required
// (invalid_request otherwise) and token_type_hint is ignored (§2.1 allows
// it). A refresh token revokes its whole family and the access tokens
// issued with it (§2.1: the grant's access tokens should go too); an
// access token is revoked by its jti until it expires. The answer is 200
// with an empty body whether or not the token was known (§2.2). A client
// may revoke only its own tokens: another client's token is left as it
// is, with the same 200 answer, so the endpoint tells nothing about it.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request, form url.Values, client *authenticatedClient) error {
	raw := form.Get("token")
	if raw == "" {
		return oauth.TokenError(oauth.ErrInvalidRequest, "token is required")
	}
	ctx, now := r.Context(), p.cfg.Now()
	if looksLikeJWT(raw) {
		c, err := p.parseAccessToken(ctx, raw)
		switch {
		case errors.Is(err, errBadAccessToken):
		case err != nil:
			return err
		case c.ClientID == client.ID:
			if err := p.cfg.Tokens.RevokeAccessToken(ctx, c.ID, c.ExpiresAt.Time); err != nil {
				return err
			}
			p.log.Info("token.revoked", "client_id", client.ID, "token_type", "access_token", "token", tokenRef(c.ID))
		}
	} else {
		t, err := p.cfg.Tokens.GetToken(ctx, tokenHash(raw))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case t.ClientID == client.ID:
			if err := p.revokeFamily(ctx, t.Family, now); err != nil {
				return err
			}
			p.log.Info("token.revoked", "client_id", client.ID, "token_type", "refresh_token", "token", tokenRef(raw), "detail", "with its family")
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}
