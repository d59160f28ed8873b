package op

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// grantCIBA redeems an auth_req_id (CIBA Core 1.0 §10.1). The request's
// lifecycle (authreq.Lifecycle.Poll) decides, in the order of checklist
// §3.3, and this maps its outcome to §11: unknown or foreign id →
// invalid_grant; redeemed → invalid_grant; expired → expired_token; denied
// → access_denied; pending → authorization_pending, or slow_down when the
// client polls sooner than the interval after its previous poll (the first
// poll may follow the acknowledgement at once, §7.3); approved → tokens
// bound to this connection's certificate (RFC 8705 §3), and the id is
// spent (§10.1.1). If the tokens then cannot be issued, the request is
// given back (approved) so the client can retry. Ping clients poll here too
// (after a ping, or on their own at the interval); push clients may not.
// With Config.LongPoll, a poll answered pending is held first (longpoll.go).
func (p *Provider) grantCIBA(w http.ResponseWriter, r *http.Request, client *authenticatedClient, form url.Values) error {
	if client.DeliveryMode == oauth.ModePush {
		return oauth.TokenError(oauth.ErrUnauthorizedClient, "the client is registered for push mode and may not poll")
	}
	id := form.Get(oauth.ParamAuthReqID)
	noteReq(w, id)
	if id == "" {
		return oauth.TokenError(oauth.ErrInvalidRequest, "auth_req_id is required")
	}
	// A registration the OP cannot sign for fails before the id is spent.
	if _, err := p.idTokenAlg(client.Client); err != nil {
		return err
	}
	req, err := p.life.Poll(r.Context(), client.ID, id)
	if err == authreq.ErrPending && p.cfg.LongPoll > 0 {
		req, err = p.holdPoll(r, client.ID, id)
	}
	now := p.cfg.Now()
	var slow *authreq.SlowDownError
	switch {
	case errors.Is(err, authreq.ErrUnknown):
		return refusedFor(id, oauth.TokenError(oauth.ErrInvalidGrant, "auth_req_id is unknown or was not issued to this client"))
	case errors.Is(err, authreq.ErrRedeemed):
		return refusedFor(id, oauth.TokenError(oauth.ErrInvalidGrant, "auth_req_id has already been used"))
	case errors.Is(err, authreq.ErrExpired):
		return refusedFor(id, oauth.TokenError(oauth.ErrExpiredToken, "auth_req_id has expired"))
	case errors.Is(err, authreq.ErrDenied):
		return refusedFor(id, oauth.TokenError(oauth.ErrAccessDenied, "the user denied the request"))
	case errors.Is(err, authreq.ErrPending):
		return oauth.TokenError(oauth.ErrAuthorizationPending, "the user has not decided yet")
	case errors.As(err, &slow):
		return oauth.TokenError(oauth.ErrSlowDown, "polling too often; wait at least %d s between polls", int(slow.Interval/time.Second))
	case err != nil:
		return refusedFor(id, err)
	}

	resp, m, err := p.mintTokens(r.Context(), grant{
		Client: client.Client, X5t: certThumbprint(client.Cert),
		User: req.User, Scope: req.Scope, ACR: req.ACR, AMR: req.AMR, AuthTime: req.AuthTime,
		Details: req.GrantedDetails, AuthReqID: req.ID,
	}, now)
	if err != nil {
		// Nothing was issued: give the request back so the client can
		// poll again.
		p.unredeem(r, req, m)
		return refusedFor(id, err)
	}
	writeJSONStatus(w, http.StatusOK, resp)
	return nil
}

// unredeem gives a request redeemed by req back to approved after a failed
// mint, unless it changed since (authreq.Lifecycle.Unredeem), and revokes
// the access token signed for nobody.
func (p *Provider) unredeem(r *http.Request, req *store.Request, m minted) {
	ctx := r.Context()
	if m.AccessTokenID != "" {
		if err := p.cfg.Tokens.RevokeAccessToken(ctx, m.AccessTokenID, m.AccessTokenExp); err != nil {
			p.log.Error("token.revoke_failed", oauth.LogAttrReq, oauth.ReqRef(req.ID), "err", err)
		}
	}
	if err := p.life.Unredeem(ctx, req); err != nil {
		p.log.Error("token.unredeem_failed", oauth.LogAttrReq, oauth.ReqRef(req.ID), "err", err)
	}
}
