package op

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// grantRefresh exchanges a refresh token (RFC 6749 §6). The token must have
// been issued to this client (else invalid_grant, as if unknown), be
// neither revoked, spent nor expired, and, when it was issued over mutual
// TLS, have been issued to the certificate presented on this connection:
// refresh tokens are bound to the certificate like node-oidc-provider binds
// them (a stricter reading of RFC 8705 §7.1, which only requires client
// authentication; a client that rolls its certificate starts a new CIBA
// flow). The optional scope may only narrow the granted scope
// (invalid_scope otherwise).
//
// Tokens rotate: the exchange spends the presented token in one
// compare-and-swap and issues a new one of the same family, with the
// family's scope and absolute expiry. Presenting a spent token again is a
// replay: invalid_grant, and the whole family and its access tokens are
// revoked (OAuth 2.0 Security BCP §4.14.2). The new access token is bound
// to this connection's certificate (RFC 8705 §3). If the new tokens cannot
// be issued, the presented token is given back (a second compare-and-swap)
// so that the client can retry; if a replay revoked the family meanwhile,
// the new access token is revoked too and the answer is invalid_grant.
func (p *Provider) grantRefresh(w http.ResponseWriter, r *http.Request, client *authenticatedClient, form url.Values) error {
	raw := form.Get(oauth.ParamRefreshToken)
	if raw == "" {
		return oauth.TokenError(oauth.ErrInvalidRequest, "refresh_token is required")
	}
	var narrowed []string
	if form.Has(oauth.ParamScope) {
		narrowed = dedupe(strings.Fields(form.Get(oauth.ParamScope)))
		if len(narrowed) == 0 {
			return oauth.TokenError(oauth.ErrInvalidScope, "scope must not be empty")
		}
	}
	// A registration the OP cannot sign for fails before the token is
	// spent.
	if _, err := p.idTokenAlg(client.Client); err != nil {
		return err
	}
	x5t := certThumbprint(client.Cert)
	now := p.cfg.Now()
	replayed := "" // the family of a replayed token
	tok, err := p.cfg.Tokens.UpdateToken(r.Context(), tokenHash(raw), func(t *store.Token) error {
		replayed = ""
		switch {
		case t.ClientID != client.ID:
			return errForeign
		case !t.RevokedAt.IsZero():
			return oauth.TokenError(oauth.ErrInvalidGrant, "the refresh token was revoked")
		case !t.UsedAt.IsZero():
			replayed = t.Family
			return oauth.TokenError(oauth.ErrInvalidGrant, "the refresh token was already used")
		case !now.Before(t.ExpiresAt):
			return oauth.TokenError(oauth.ErrInvalidGrant, "the refresh token has expired")
		case t.CertThumbprint != "" && t.CertThumbprint != x5t:
			return oauth.TokenError(oauth.ErrInvalidGrant, "the refresh token is bound to another certificate")
		}
		for _, s := range narrowed {
			if !slices.Contains(t.Scope, s) {
				return oauth.TokenError(oauth.ErrInvalidScope, "scope %s was not granted", safeName(s))
			}
		}
		t.UsedAt = now
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errForeign):
		return oauth.TokenError(oauth.ErrInvalidGrant, "the refresh token is unknown or was not issued to this client")
	case replayed != "":
		if rerr := p.revokeFamily(r.Context(), replayed, now); rerr != nil {
			return rerr
		}
		p.log.Warn("token.refresh_replayed", "client_id", client.ID, "token", tokenRef(raw))
		return err
	case err != nil:
		return err
	}

	scope := tok.Scope
	if narrowed != nil {
		scope = narrowed
	}
	resp, m, err := p.mintTokens(r.Context(), grant{
		Client: client.Client, X5t: x5t,
		User: tok.User, Scope: scope, ACR: tok.ACR, AMR: tok.AMR, AuthTime: tok.AuthTime,
		Details: tok.AuthorizationDetails, Family: tok.Family, RefreshScope: tok.Scope, RefreshExpiresAt: tok.ExpiresAt,
	}, now)
	switch {
	case errors.Is(err, store.ErrFamilyRevoked):
		// A replay revoked the family while this exchange was minting:
		// the new tokens must not outlive the revocation.
		if rerr := p.cfg.Tokens.RevokeAccessToken(r.Context(), m.AccessTokenID, m.AccessTokenExp); rerr != nil {
			return rerr
		}
		p.log.Warn("token.refresh_raced", "client_id", client.ID, "token", tokenRef(raw))
		return oauth.TokenError(oauth.ErrInvalidGrant, "the refresh token was revoked")
	case err != nil:
		// Nothing was issued: give the token back so the client can retry.
		p.unspendToken(r, tok, m)
		return err
	}
	p.log.Info("token.refreshed", "client_id", client.ID, "user", tok.User, "token", tokenRef(raw))
	writeJSONStatus(w, http.StatusOK, resp)
	return nil
}

// unspendToken undoes the spending of tok after a failed mint, unless the
// token changed since (compare-and-swap on its revision), and revokes the
// access token signed for nobody.
func (p *Provider) unspendToken(r *http.Request, tok *store.Token, m minted) {
	ctx := r.Context()
	if m.AccessTokenID != "" {
		if err := p.cfg.Tokens.RevokeAccessToken(ctx, m.AccessTokenID, m.AccessTokenExp); err != nil {
			p.log.Error("token.revoke_failed", "err", err)
		}
	}
	_, err := p.cfg.Tokens.UpdateToken(ctx, tok.Hash, func(t *store.Token) error {
		if t.Revision != tok.Revision {
			return errChanged
		}
		t.UsedAt = time.Time{}
		return nil
	})
	if err != nil {
		p.log.Error("token.unspend_failed", "err", err)
	}
}

// errForeign aborts the use of a refresh token issued to another client.
var errForeign = errors.New("op: refresh token belongs to another client")

// errChanged aborts a compare-and-swap that undoes a change when the
// record changed again since.
var errChanged = errors.New("op: changed meanwhile")
