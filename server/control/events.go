package control

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/cibalab/cibalab/server/authreq"
)

// EventLog keeps the lifecycle events of the most recent requests
// (authreq.Sink; op.Config.Transitions), for the events endpoint. It keeps
// at most its capacity of requests, forgetting the oldest first, and at
// most maxEventsPerRequest events of each. It is safe for concurrent use.
type EventLog struct {
	mu     sync.Mutex
	max    int
	order  []string // auth_req_ids, oldest first
	events map[string][]Event
}

// maxEventsPerRequest bounds one request's log: a client that polls too
// often still leaves a readable log.
const maxEventsPerRequest = 200

// Event is one transition of a request, as the events endpoint shows it.
type Event struct {
	// Type is the transition's stable name (authreq.EventType).
	Type string `json:"type"`
	// Time is on the OP's clock.
	Time time.Time `json:"time"`
	// Status is the request's status after the transition.
	Status string `json:"status"`
	// Detail qualifies Type ("slow_down", "delivered", ...).
	Detail string `json:"detail,omitempty"`
}

// NewEventLog returns a log of the events of up to capacity requests;
// capacity under 1 means 10000.
func NewEventLog(capacity int) *EventLog {
	if capacity < 1 {
		capacity = 10000
	}
	return &EventLog{max: capacity, events: map[string][]Event{}}
}

// Transition records e (authreq.Sink).
func (l *EventLog) Transition(_ context.Context, e authreq.Event) {
	if e.Request == nil {
		return
	}
	id := e.Request.ID
	ev := Event{Type: string(e.Type), Time: e.Time.UTC(), Status: string(e.Request.Status), Detail: e.Detail}
	l.mu.Lock()
	defer l.mu.Unlock()
	list, ok := l.events[id]
	if !ok {
		l.order = append(l.order, id)
		for len(l.order) > l.max {
			delete(l.events, l.order[0])
			l.order = l.order[1:]
		}
	}
	if len(list) < maxEventsPerRequest {
		l.events[id] = append(list, ev)
	}
}

// Events returns a copy of the events of the request authReqID, oldest
// first, and whether the log knows it.
func (l *EventLog) Events(authReqID string) ([]Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	list, ok := l.events[authReqID]
	return append([]Event(nil), list...), ok
}

// requestEvents answers the lifecycle events of one request: created,
// polled (authorization_pending, slow_down), approved or denied,
// notified, redeemed, expired (package authreq).
func (s *Server) requestEvents(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Events == nil {
		return conflict("events_disabled", "this OP keeps no event log")
	}
	id := r.PathValue("id")
	events, ok := s.cfg.Events.Events(id)
	if !ok {
		return notFound("no events for this auth_req_id: the OP never saw it, or forgot it among older requests")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"auth_req_id": id, "events": events})
}
