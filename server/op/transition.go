package op

import (
	"context"
	"log/slog"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/shared/oauth"
)

// transition is the sink of the requests' lifecycle: it logs each
// transition in one line named after it (authreq.created,
// authreq.approved, authreq.redeemed, ...; polls and notification records
// at debug level), with the request's reference, client and user, and
// passes it on to Config.Transitions.
func (p *Provider) transition(ctx context.Context, e authreq.Event) {
	level := slog.LevelInfo
	if e.Type == authreq.EventPolled || e.Type == authreq.EventNotified {
		level = slog.LevelDebug
	}
	attrs := []any{oauth.LogAttrReq, oauth.ReqRef(e.Request.ID), "client_id", e.Request.ClientID, "user", e.Request.User}
	if e.Detail != "" {
		attrs = append(attrs, "detail", e.Detail)
	}
	p.log.Log(ctx, level, string(e.Type), attrs...)
	if p.cfg.Transitions != nil {
		p.cfg.Transitions.Transition(ctx, e)
	}
}
