package op

import (
	"context"
	"errors"
	"slices"
	"time"

	"cibalab/server/store"
	"cibalab/shared/channel"
)

// Errors of Decide, mapped by the device channel to its reply codes.
var (
	// ErrNotYourRequest: no such request, or it belongs to another user.
	// The two are not told apart, so a device learns nothing about other
	// users' requests.
	ErrNotYourRequest = errors.New("op: no such request for this user")
	// ErrNotPending: the request was already decided, redeemed or expired.
	ErrNotPending = errors.New("op: request is no longer pending")
	// ErrDecisionLapsed: the decision arrived after its Verdict.NotAfter;
	// nothing changed.
	ErrDecisionLapsed = errors.New("op: the decision arrived too late")
)

// Verdict is the user's decision on an authentication device.
type Verdict struct {
	Approve bool
	// ACR and AMR describe how the user authenticated on the device
	// (OpenID Connect Core 1.0 §2); they reach the ID token.
	ACR string
	AMR []string
	// Device is the enrolled device that decided; "" when unknown. A
	// decision is recognised as a resend when the same device sends the
	// same verdict again.
	Device string
	// NotAfter, when set, is the last moment the decision may be applied:
	// it is checked in the same compare-and-swap that applies it, so a
	// device that reports a decision as failed after NotAfter is never
	// contradicted by a late application.
	NotAfter time.Time
}

// errResent aborts the store update of a resent decision: nothing changes.
var errResent = errors.New("op: decision resent")

// Decide records the decision of user's authentication device on the
// request authReqID (CIBA Core 1.0 §8). The caller has authenticated the
// device and its user. A decision is accepted once, only for a pending,
// unexpired request of that same user; a refused decision changes nothing.
// A resend is idempotent: when the device that decided (Verdict.Device)
// sends the same verdict again, Decide answers as it did the first time
// (nil) and changes nothing, even once the request was redeemed or has
// expired, so a device whose first answer was lost learns the outcome.
// An accepted decision is then delivered in the background to ping and push
// clients (notify.go); Decide never waits for the client's endpoint.
func (p *Provider) Decide(ctx context.Context, user, authReqID string, v Verdict) error {
	now := p.cfg.Now()
	req, err := p.cfg.Store.Update(ctx, authReqID, func(req *store.Request) error {
		switch {
		case req.User != user:
			return ErrNotYourRequest
		case v.Device != "" && req.DecidedBy == v.Device && resends(req.Status, v.Approve):
			return errResent
		case req.Status != store.StatusPending || req.Expired(now) || !req.ExpiryPushedAt.IsZero():
			return ErrNotPending
		case !v.NotAfter.IsZero() && p.cfg.Now().After(v.NotAfter):
			return ErrDecisionLapsed
		}
		req.Status = store.StatusDenied
		if v.Approve {
			req.Status = store.StatusApproved
			req.ACR = p.selectACR(req.ACRValues, v.ACR)
			req.AMR = slices.Clone(v.AMR)
			req.AuthTime = now
		}
		req.DecidedAt = now
		req.DecidedBy = v.Device
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotYourRequest
	}
	if errors.Is(err, errResent) {
		p.log.Info("decision resent: answered as before", "req", ref(authReqID), "user", user, "device", v.Device)
		return nil
	}
	if err != nil {
		return err
	}
	p.log.Info("decision accepted", "req", ref(req.ID), "user", user, "status", string(req.Status))
	p.notifyDecision(req)
	return nil
}

// resends reports whether a decision with verdict approve repeats the one
// that left the request in status st.
func resends(st store.Status, approve bool) bool {
	if approve {
		return st == store.StatusApproved || st == store.StatusRedeemed
	}
	return st == store.StatusDenied
}

// Pending returns the unexpired pending requests of user, oldest first, as
// the device channel announces them.
func (p *Provider) Pending(ctx context.Context, user string) ([]channel.AuthRequest, error) {
	reqs, err := p.cfg.Store.List(ctx, user, store.StatusPending)
	if err != nil {
		return nil, err
	}
	now := p.cfg.Now()
	out := []channel.AuthRequest{}
	for _, r := range reqs {
		if r.Expired(now) {
			continue
		}
		name := ""
		if c, err := p.cfg.Clients.Client(r.ClientID); err == nil {
			name = c.Name
		}
		out = append(out, authRequestMessage(r, name))
	}
	return out, nil
}

// authRequestMessage is the channel message announcing r.
func authRequestMessage(r *store.Request, clientName string) channel.AuthRequest {
	return channel.AuthRequest{
		Version:        channel.Version,
		AuthReqID:      r.ID,
		ClientID:       r.ClientID,
		ClientName:     clientName,
		User:           r.User,
		Scope:          r.Scope,
		BindingMessage: r.BindingMessage,
		ACRValues:      r.ACRValues,
		CreatedAt:      r.CreatedAt.Unix(),
		ExpiresAt:      r.ExpiresAt.Unix(),
	}
}
