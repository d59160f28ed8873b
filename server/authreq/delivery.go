package authreq

import (
	"context"
	"errors"
	"time"

	"github.com/cibalab/cibalab/server/store"
)

// ClaimDelivery takes, or renews, the delivery of a decided request to its
// client's notification endpoint (CIBA Core 1.0 §10.2, §10.3) for owner,
// until lease from now: by compare-and-swap, so that of several OPs
// sharing the store one delivers. It succeeds when the request is decided
// (approved or denied), unexpired, its delivery not ended, and the
// delivery is owner's already, nobody's, or its lease ran out (the owner
// stopped). ErrClaimed otherwise.
func (l *Lifecycle) ClaimDelivery(ctx context.Context, id, owner string, lease time.Duration) (*store.Request, error) {
	now := l.cfg.Now()
	req, err := l.cfg.Store.Update(ctx, id, func(r *store.Request) error {
		switch {
		case r.Status != store.StatusApproved && r.Status != store.StatusDenied,
			r.Expired(now), !r.DeliveryEnded.IsZero(),
			r.DeliveryOwner != "" && r.DeliveryOwner != owner && now.Before(r.DeliveryLease):
			return ErrClaimed
		}
		r.DeliveryOwner, r.DeliveryLease = owner, now.Add(lease)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrClaimed
	}
	return req, err
}

// EndDelivery records that owner's delivery of a request ended, delivered
// or given up: nobody resumes it. ErrClaimed when the delivery is no
// longer owner's.
func (l *Lifecycle) EndDelivery(ctx context.Context, id, owner string) error {
	now := l.cfg.Now()
	_, err := l.cfg.Store.Update(ctx, id, func(r *store.Request) error {
		if r.DeliveryOwner != owner || !r.DeliveryEnded.IsZero() {
			return ErrClaimed
		}
		r.DeliveryEnded = now
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrClaimed
	}
	return err
}

// ReleaseDelivery gives back owner's delivery of a request that did not
// end (its OP is stopping), so that another OP takes it at once rather
// than after the lease.
func (l *Lifecycle) ReleaseDelivery(ctx context.Context, id, owner string) error {
	_, err := l.cfg.Store.Update(ctx, id, func(r *store.Request) error {
		if r.DeliveryOwner != owner || !r.DeliveryEnded.IsZero() {
			return ErrClaimed
		}
		r.DeliveryLease = time.Time{}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrClaimed
	}
	return err
}

// Undelivered returns the decided, unexpired requests whose delivery has
// not ended and whose owner's lease ran out (or that nobody claimed),
// oldest first: the deliveries an OP may resume. Requests of poll clients
// are among them; the caller skips those.
func (l *Lifecycle) Undelivered(ctx context.Context) ([]*store.Request, error) {
	now := l.cfg.Now()
	var out []*store.Request
	for _, st := range []store.Status{store.StatusApproved, store.StatusDenied} {
		reqs, err := l.cfg.Store.List(ctx, "", st)
		if err != nil {
			return nil, err
		}
		for _, r := range reqs {
			if !r.Expired(now) && r.DeliveryEnded.IsZero() && !now.Before(r.DeliveryLease) {
				out = append(out, r)
			}
		}
	}
	store.SortOldestFirst(out)
	return out, nil
}
