package authreq

import (
	"context"
	"time"

	"github.com/cibalab/cibalab/server/store"
)

// EventType names a transition. The names are stable: logs and the NATS
// event stream carry them.
type EventType string

// The transitions of a request.
const (
	// EventCreated: a request was accepted and is pending (§7.3).
	EventCreated EventType = "authreq.created"
	// EventPolled: a poll found the request pending; Detail is
	// "authorization_pending" or "slow_down" (§11).
	EventPolled EventType = "authreq.polled"
	// EventApproved and EventDenied: the user decided on a device (§8).
	EventApproved EventType = "authreq.approved"
	EventDenied   EventType = "authreq.denied"
	// EventRedeemed: the tokens were issued; Detail is "poll" (§10.1.1)
	// or "push" (§10.3.1).
	EventRedeemed EventType = "authreq.redeemed"
	// EventUnredeemed: a redeemed request was given back because its
	// tokens could not be issued.
	EventUnredeemed EventType = "authreq.unredeemed"
	// EventNotified: a call to the client's notification endpoint was
	// recorded; Detail is "delivered" or "failed" (§10.2, §10.3).
	EventNotified EventType = "authreq.notified"
	// EventExpired: a push client's request expired undecided and its
	// expired_token push was claimed (§12).
	EventExpired EventType = "authreq.expired"
)

// Event is one transition, reported after it was stored.
type Event struct {
	Type EventType
	Time time.Time
	// Request is a copy of the request after the transition. It holds
	// the auth_req_id and the client_notification_token: never log it
	// whole.
	Request *store.Request
	Detail  string
}

// Sink receives the transitions, in the order each request went through
// them. It must not block for long and must be safe for concurrent use.
type Sink interface {
	Transition(ctx context.Context, e Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, e Event)

// Transition calls f.
func (f SinkFunc) Transition(ctx context.Context, e Event) { f(ctx, e) }
