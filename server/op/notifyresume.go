package op

import (
	"context"
	"errors"
	"time"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// deliveryLease is how long a claim on a delivery holds without renewal:
// longer than one push attempt (notifyTimeout) plus the longest backoff
// before the next (16 s), so that a live OP renews it before each attempt
// in time.
const deliveryLease = 30 * time.Second

// deliver claims the delivery of decided req to a ping or push client and
// runs it in the background (notifyDecision, ResumeDeliveries). The claim
// is a compare-and-swap on the request (authreq.Lifecycle.ClaimDelivery),
// so that among OPs sharing the store one delivers. When the delivery
// ends it is recorded as ended; when it is cut short by Close it is
// released, for another OP to resume at once. It reports whether it
// started a delivery.
func (p *Provider) deliver(client *registry.Client, req *store.Request) bool {
	cctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	claimed, err := p.life.ClaimDelivery(cctx, req.ID, p.instance, deliveryLease)
	cancel()
	if errors.Is(err, authreq.ErrClaimed) {
		return false // another OP delivers it, or it is over
	}
	if err != nil {
		// Unclaimed, it is resumed by the next look for undelivered
		// decisions, here or at another OP.
		p.log.Error("notify.claim_failed", oauth.LogAttrReq, oauth.ReqRef(req.ID), "client_id", client.ID, "err", err)
		return false
	}
	started := p.notifier.spawn(func(ctx context.Context) {
		if client.DeliveryMode == oauth.ModePing {
			p.ping(ctx, client, claimed)
		} else {
			p.push(ctx, client, claimed)
		}
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		var err error
		if ctx.Err() != nil {
			err = p.life.ReleaseDelivery(cctx, claimed.ID, p.instance)
		} else {
			err = p.life.EndDelivery(cctx, claimed.ID, p.instance)
		}
		if err != nil && !errors.Is(err, authreq.ErrClaimed) {
			p.log.Error("notify.record_failed", oauth.LogAttrReq, oauth.ReqRef(claimed.ID), "err", err)
		}
	})
	if !started {
		p.log.Warn("notify.not_sent", oauth.LogAttrReq, oauth.ReqRef(req.ID), "client_id", client.ID, "reason", "the provider is closed")
		cctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		p.life.ReleaseDelivery(cctx, claimed.ID, p.instance)
	}
	return started
}

// renewDelivery renews the claim on req's delivery before another
// attempt; false when another OP took it over meanwhile, or it can no
// longer be delivered: this OP then stops.
func (p *Provider) renewDelivery(ctx context.Context, req *store.Request) bool {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if _, err := p.life.ClaimDelivery(cctx, req.ID, p.instance, deliveryLease); err != nil {
		p.log.Warn("notify.abandoned", oauth.LogAttrReq, oauth.ReqRef(req.ID), "mode", NotifyPush,
			"reason", "the delivery is no longer this OP's", "err", err.Error())
		return false
	}
	return true
}

// ResumeDeliveries starts the deliveries to ping and push clients' notification
// endpoints (CIBA Core 1.0 §10.2, §10.3) of decided requests that nobody
// delivers: their OP stopped before the delivery ended, and its claim ran
// out or was released. Several OPs sharing the store may call it at once:
// each delivery is claimed by compare-and-swap, so one of them resumes it.
// It returns how many it started. The serving loop (oprun) calls it every
// second.
func (p *Provider) ResumeDeliveries(ctx context.Context) (int, error) {
	reqs, err := p.life.Undelivered(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range reqs {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		client, err := p.cfg.Clients.Client(r.ClientID)
		if err != nil || (client.DeliveryMode != oauth.ModePing && client.DeliveryMode != oauth.ModePush) || r.NotificationToken == "" {
			continue
		}
		if p.deliver(client, r) {
			p.log.Info("notify.resumed", oauth.LogAttrReq, oauth.ReqRef(r.ID), "client_id", client.ID)
			n++
		}
	}
	return n, nil
}
