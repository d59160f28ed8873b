package op

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"cibalab/server/store"
	"cibalab/shared/channel"
	"cibalab/shared/oauth"
)

// grantCIBA redeems an auth_req_id (CIBA Core 1.0 §10.1). The checks follow
// the order of checklist §3.3: unknown or foreign id → invalid_grant;
// redeemed → invalid_grant; expired → expired_token; pending →
// authorization_pending, or slow_down when the client polls sooner than the
// interval after its previous poll, which then grows by 5 s (§11; the first
// poll may follow the acknowledgement at once, §7.3); denied → access_denied; approved →
// tokens bound to this connection's certificate (RFC 8705 §3), and the id is
// spent (§10.1.1). The state change is one compare-and-swap, so two
// concurrent polls can never both redeem; if the tokens then cannot be
// issued, a second compare-and-swap puts the request back to approved so
// the client can retry. Ping clients poll here too
// (after a ping, or on their own at the interval); push clients may not.
func (p *Provider) grantCIBA(w http.ResponseWriter, r *http.Request, client *authenticatedClient, form url.Values) error {
	if client.DeliveryMode == oauth.ModePush {
		return oauth.TokenError(oauth.ErrUnauthorizedClient, "the client is registered for push mode and may not poll")
	}
	id := form.Get(oauth.ParamAuthReqID)
	if id == "" {
		return oauth.TokenError(oauth.ErrInvalidRequest, "auth_req_id is required")
	}
	// A registration the OP cannot sign for fails before the id is spent.
	if _, err := p.idTokenAlg(client.Client); err != nil {
		return err
	}
	now := p.cfg.Now()
	var outcome *oauth.Error
	req, err := p.cfg.Store.Update(r.Context(), id, func(req *store.Request) error {
		outcome = nil
		if req.ClientID != client.ID {
			return errForeign
		}
		switch {
		case req.Status == store.StatusRedeemed:
			return oauth.TokenError(oauth.ErrInvalidGrant, "auth_req_id has already been used")
		case req.Expired(now):
			return oauth.TokenError(oauth.ErrExpiredToken, "auth_req_id has expired")
		case req.Status == store.StatusDenied:
			return oauth.TokenError(oauth.ErrAccessDenied, "the user denied the request")
		case req.Status == store.StatusApproved:
			req.Status = store.StatusRedeemed
			req.RedeemedAt = now
			return nil
		}
		// Pending: record the poll, enforcing the interval between two
		// polls (§7.3: "the minimum amount of time in seconds that the
		// Client MUST wait between polling requests"). The acknowledgement
		// is not a poll, so the first poll may come at once.
		early := !req.LastPoll.IsZero() && now.Sub(req.LastPoll) < req.Interval-p.cfg.PollTolerance
		req.LastPoll = now
		req.Polls++
		if early {
			req.Interval += oauth.SlowDownIncrement * time.Second
			outcome = oauth.TokenError(oauth.ErrSlowDown, "polling too often; wait at least %d s between polls", int(req.Interval/time.Second))
		} else {
			outcome = oauth.TokenError(oauth.ErrAuthorizationPending, "the user has not decided yet")
		}
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errForeign):
		return oauth.TokenError(oauth.ErrInvalidGrant, "auth_req_id is unknown or was not issued to this client")
	case err != nil:
		return err
	case outcome != nil:
		return outcome
	}

	resp, m, err := p.mintTokens(r.Context(), grant{
		Client: client.Client, X5t: certThumbprint(client.Cert),
		User: req.User, Scope: req.Scope, ACR: req.ACR, AMR: req.AMR, AuthTime: req.AuthTime,
		AuthReqID: req.ID,
	}, now)
	if err != nil {
		// Nothing was issued: give the request back so the client can
		// poll again.
		p.unredeem(r, req, m)
		return err
	}
	p.log.Info("tokens issued", "req", ref(req.ID), "client_id", client.ID, "user", req.User)
	writeJSONStatus(w, http.StatusOK, resp)
	if p.cfg.Announcer != nil {
		p.cfg.Announcer.Event(r.Context(), channel.Event{
			Version: channel.Version, Type: channel.EventTokenIssued, Time: now.UnixMilli(),
			ReqRef: ref(req.ID), ClientID: client.ID, User: req.User,
		})
	}
	return nil
}

var errForeign = errors.New("op: auth_req_id belongs to another client")

// unredeem puts a request redeemed by req back to approved after a failed
// mint, unless it changed since (compare-and-swap on its revision), and
// revokes the access token signed for nobody.
func (p *Provider) unredeem(r *http.Request, req *store.Request, m minted) {
	ctx := r.Context()
	if m.AccessTokenID != "" {
		if err := p.cfg.Tokens.RevokeAccessToken(ctx, m.AccessTokenID, m.AccessTokenExp); err != nil {
			p.log.Error("token: revoking an undelivered access token failed", "req", ref(req.ID), "err", err)
		}
	}
	_, err := p.cfg.Store.Update(ctx, req.ID, func(cur *store.Request) error {
		if cur.Revision != req.Revision || cur.Status != store.StatusRedeemed {
			return errChanged
		}
		cur.Status = store.StatusApproved
		cur.RedeemedAt = time.Time{}
		return nil
	})
	if err != nil {
		p.log.Error("token: giving the request back after a failure failed", "req", ref(req.ID), "err", err)
	}
}
