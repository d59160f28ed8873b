package op

import (
	"context"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Decide records the decision of user's authentication device on the
// request authReqID (CIBA Core 1.0 §8) through the request's lifecycle
// (authreq.Lifecycle.Decide, which says when a decision is accepted, and
// answers a resend as the first time). The caller has authenticated the
// device and its user. An accepted decision is then delivered in the
// background to ping and push clients (notify.go); Decide never waits for
// the client's endpoint. Its errors are authreq's: ErrNotYours,
// ErrNotPending, ErrLapsed.
func (p *Provider) Decide(ctx context.Context, user, authReqID string, v authreq.Verdict) error {
	req, applied, err := p.life.Decide(ctx, user, authReqID, v)
	if err != nil {
		return err
	}
	if !applied {
		p.log.Info("decision.resent", oauth.LogAttrReq, oauth.ReqRef(authReqID), "user", user, "device", v.Device, "detail", "answered as before")
		return nil
	}
	p.notifyDecision(req)
	return nil
}

// Pending returns the unexpired pending requests of user, oldest first, as
// the device channel announces them.
func (p *Provider) Pending(ctx context.Context, user string) ([]channel.AuthRequest, error) {
	reqs, err := p.life.Pending(ctx, user)
	if err != nil {
		return nil, err
	}
	out := []channel.AuthRequest{}
	for _, r := range reqs {
		name := ""
		if c, err := p.cfg.Clients.Client(r.ClientID); err == nil {
			name = c.Name
		}
		out = append(out, authRequestMessage(r, name))
	}
	return out, nil
}

// details parses stored authorization_details, validated when the
// request was accepted; nil for none.
func details(stored string) authzdetails.Details {
	if stored == "" {
		return nil
	}
	ds, err := authzdetails.Parse([]byte(stored))
	if err != nil {
		return nil
	}
	return ds
}

// authRequestMessage is the channel message announcing r.
func authRequestMessage(r *store.Request, clientName string) channel.AuthRequest {
	return channel.AuthRequest{
		Version:              channel.Version,
		AuthReqID:            r.ID,
		ClientID:             r.ClientID,
		ClientName:           clientName,
		User:                 r.User,
		Scope:                r.Scope,
		BindingMessage:       r.BindingMessage,
		ACRValues:            r.ACRValues,
		AuthorizationDetails: details(r.AuthorizationDetails),
		CreatedAt:            r.CreatedAt.Unix(),
		ExpiresAt:            r.ExpiresAt.Unix(),
	}
}
