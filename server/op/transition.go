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
// at debug level), with the request's reference, client and user (and the
// deciding device for a decision), and passes it on to Config.Transitions.
// It is the only log line of these events: the device channel (bus) and
// the endpoints do not log them again.
func (p *Provider) transition(ctx context.Context, e authreq.Event) {
	level := slog.LevelInfo
	if e.Type == authreq.EventPolled || e.Type == authreq.EventNotified {
		level = slog.LevelDebug
	}
	if p.log.Enabled(ctx, level) { // a poll costs no hash when debug is off
		attrs := make([]any, 0, 10)
		attrs = append(attrs, oauth.LogAttrReq, oauth.ReqRef(e.Request.ID), "client_id", e.Request.ClientID, "user", e.Request.User)
		if e.Request.DecidedBy != "" && (e.Type == authreq.EventApproved || e.Type == authreq.EventDenied) {
			attrs = append(attrs, "device", e.Request.DecidedBy)
		}
		if e.Detail != "" {
			attrs = append(attrs, "detail", e.Detail)
		}
		p.log.Log(ctx, level, string(e.Type), attrs...)
	}
	if e.Type == authreq.EventApproved || e.Type == authreq.EventDenied {
		p.holds.wake(e.Request.ID)
	}
	if p.cfg.Transitions != nil {
		p.cfg.Transitions.Transition(ctx, e)
	}
}
