package watch

import (
	"context"

	"github.com/cibalab/cibalab/server/op"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Events publishes events on the stream; *bus.Responder implements it.
type Events interface {
	// Watched reports, cheaply, whether anybody reads the stream.
	Watched() bool
	Event(ctx context.Context, e channel.Event)
}

// Publisher is the op.Observer that puts the exchanges of a backchannel
// authentication flow on the event stream: every answer of the
// backchannel authentication endpoint (CIBA Core 1.0 §7) and of the token
// endpoint for the CIBA grant (§10.1, §11), and every ping and push
// notification (§10.2, §10.3, §12). Other endpoints are left out. Nothing
// is built when nobody watches.
type Publisher struct {
	events Events
}

// NewPublisher returns a Publisher publishing on events.
func NewPublisher(events Events) *Publisher { return &Publisher{events: events} }

// maxErrorLen bounds the text of a failed notification's error.
const maxErrorLen = 160

// Exchange implements op.Observer.
func (p *Publisher) Exchange(ctx context.Context, x op.Exchange) {
	if x.Endpoint != op.EndpointBCAuthorize && (x.Endpoint != op.EndpointToken || x.GrantType != oauth.GrantTypeCIBA) {
		return
	}
	if !p.events.Watched() {
		return
	}
	end := x.Start.Add(x.Duration)
	p.events.Event(ctx, channel.Event{Version: channel.Version, Type: channel.EventExchange, Time: end.UnixMilli(),
		AtMicros: end.UnixMicro(), TookMicros: x.Duration.Microseconds(), ReqRef: x.Req, ClientID: x.ClientID,
		Endpoint: x.Endpoint, GrantType: x.GrantType, Status: x.Status, Error: x.Error})
}

// Notification implements op.Observer.
func (p *Publisher) Notification(ctx context.Context, n op.Notification) {
	if !p.events.Watched() {
		return
	}
	end := n.Start.Add(n.Duration)
	ev := channel.Event{Version: channel.Version, Type: channel.EventNotification, Time: end.UnixMilli(),
		AtMicros: end.UnixMicro(), TookMicros: n.Duration.Microseconds(), ReqRef: n.Req, ClientID: n.ClientID,
		Mode: n.Mode, Kind: n.Kind, Status: n.Status}
	if n.Err != nil {
		ev.Error = n.Err.Error()
		if r := []rune(ev.Error); len(r) > maxErrorLen {
			ev.Error = string(r[:maxErrorLen]) + "…"
		}
	}
	p.events.Event(ctx, ev)
}
