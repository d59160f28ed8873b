package op

import (
	"context"
	"errors"
	"time"

	"cibalab/server/state"
	"cibalab/server/store"
	"cibalab/shared/oauth"
)

// errExpiryClaimed aborts the claim of a request whose expired_token push
// another sweep (of this provider or of another sharing the store) already
// claimed, or that stopped being pending meanwhile.
var errExpiryClaimed = errors.New("op: expired_token push already claimed")

// NotifyExpired pushes {"error":"expired_token","auth_req_id":...} to the
// notification endpoint of each push client whose request expired while
// still pending, nobody having decided it (CIBA Core 1.0 §12, §10.3), with
// the request's client_notification_token as a Bearer token. It returns
// how many pushes it started; they run in the background, like the other
// notifications.
//
// Each request is pushed at most once: the push is claimed on the request
// (store.Request.ExpiryPushedAt) by compare-and-swap before it is sent, so
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
	reqs, err := p.cfg.Store.List(ctx, "", store.StatusPending)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range reqs {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		now := p.cfg.Now()
		if !r.Expired(now) || !r.ExpiryPushedAt.IsZero() {
			continue
		}
		client, err := p.cfg.Clients.Client(r.ClientID)
		if err != nil || client.DeliveryMode != oauth.ModePush {
			// A client removed meanwhile has nobody to notify.
			continue
		}
		claimed, err := p.claimExpiryPush(ctx, r.ID, now)
		if errors.Is(err, errExpiryClaimed) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if claimed.NotificationToken == "" {
			p.log.Error("expired_token not pushed: the request has no client_notification_token", "req", ref(claimed.ID), "client_id", client.ID)
			continue
		}
		started := p.notifier.spawn(func(ctx context.Context) { p.pushExpired(ctx, client, claimed) })
		if !started {
			// Closed: give the push back, for another provider sharing
			// the store.
			p.releaseExpiryPush(claimed.ID, now)
			continue
		}
		n++
	}
	return n, nil
}

// claimExpiryPush marks the expired_token push of request id as taken at
// now, unless it already was or the request is no longer pending and
// expired; errExpiryClaimed then.
func (p *Provider) claimExpiryPush(ctx context.Context, id string, now time.Time) (*store.Request, error) {
	return p.cfg.Store.Update(ctx, id, func(r *store.Request) error {
		if r.Status != store.StatusPending || !r.Expired(now) || !r.ExpiryPushedAt.IsZero() {
			return errExpiryClaimed
		}
		r.ExpiryPushedAt = now
		return nil
	})
}

// releaseExpiryPush undoes the claim made at at, when the push could not
// be started.
func (p *Provider) releaseExpiryPush(id string, at time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_, err := p.cfg.Store.Update(ctx, id, func(r *store.Request) error {
		if !r.ExpiryPushedAt.Equal(at) {
			return errExpiryClaimed
		}
		r.ExpiryPushedAt = time.Time{}
		return nil
	})
	if err != nil && !errors.Is(err, errExpiryClaimed) && !errors.Is(err, store.ErrNotFound) {
		p.log.Error("expired_token: releasing the claim failed", "req", ref(id), "err", err)
	}
}

// pushExpired makes the one expired_token delivery of req (CIBA Core 1.0
// §12) and records it.
func (p *Provider) pushExpired(ctx context.Context, client *state.Client, req *store.Request) {
	p.notifyOnce(ctx, client, req, pushError{Error: oauth.ErrExpiredToken, AuthReqID: req.ID}, "expired_token push", "not retried")
}
