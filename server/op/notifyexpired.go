package op

import (
	"context"
	"errors"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// NotifyExpired pushes {"error":"expired_token","auth_req_id":...} to the
// notification endpoint of each push client whose request expired while
// still pending, nobody having decided it (CIBA Core 1.0 §12, §10.3), with
// the request's client_notification_token as a Bearer token. It returns
// how many pushes it started; they run in the background, like the other
// notifications.
//
// Each request is pushed at most once: the push is claimed on the request
// (authreq.Lifecycle.ClaimExpiryPush) by compare-and-swap before it is sent, so
// overlapping calls, or several providers sharing one store, never push it
// twice. The push is one attempt: push retries errors only while a request
// is unexpired, and this one has expired, so a failed expired_token push
// (network error, 5xx, 4xx, Close) is recorded as an attempt and logged,
// never retried. Decided and redeemed requests are not pushed (their
// outcome was), nor are ping clients' requests (a ping on expiry would
// only lead the client to an expired_token from the token endpoint, which
// polling reaches anyway) or poll clients'.
//
// Expiry follows the provider's clock (Config.Now). The serving loop
// (oprun) calls NotifyExpired every second; Sweep deletes the requests
// later, after Retention.
func (p *Provider) NotifyExpired(ctx context.Context) (int, error) {
	reqs, err := p.life.ExpiredUndecided(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range reqs {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		client, err := p.cfg.Clients.Client(r.ClientID)
		if err != nil || client.DeliveryMode != oauth.ModePush {
			// A client removed meanwhile has nobody to notify.
			continue
		}
		claimed, err := p.life.ClaimExpiryPush(ctx, r.ID)
		if errors.Is(err, authreq.ErrClaimed) {
			continue
		}
		if err != nil {
			return n, err
		}
		if claimed.NotificationToken == "" {
			p.log.Error("notify.not_sent", oauth.LogAttrReq, oauth.ReqRef(claimed.ID), "client_id", client.ID, "kind", KindError,
				"reason", "the request has no client_notification_token")
			continue
		}
		started := p.notifier.spawn(func(ctx context.Context) { p.pushExpired(ctx, client, claimed) })
		if !started {
			// Closed: give the push back, for another provider sharing
			// the store.
			p.releaseExpiryPush(claimed)
			continue
		}
		n++
	}
	return n, nil
}

// releaseExpiryPush gives back the claim on claimed's expired_token push,
// when the push could not be started.
func (p *Provider) releaseExpiryPush(claimed *store.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := p.life.ReleaseExpiryPush(ctx, claimed); err != nil && !errors.Is(err, authreq.ErrClaimed) {
		p.log.Error("notify.release_failed", oauth.LogAttrReq, oauth.ReqRef(claimed.ID), "err", err)
	}
}

// pushExpired makes the one expired_token delivery of req (CIBA Core 1.0
// §12) and records it.
func (p *Provider) pushExpired(ctx context.Context, client *registry.Client, req *store.Request) {
	p.notifyOnce(ctx, client, req, pushError{Error: oauth.ErrExpiredToken, AuthReqID: req.ID}, NotifyPush, KindError, "not retried")
}
