package watch

import (
	"slices"
	"strconv"
	"time"

	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Flow is what is known of one backchannel authentication request: the
// messages of its three parties, told apart from other flows by the
// request's reference.
type Flow struct {
	// Req is the request's reference (oauth.ReqRef); "" for a flow of one
	// exchange that created no request (a refused bc-authorize).
	Req      string
	ClientID string
	User     string
	// Mode is the token delivery mode: "poll" until a notification shows
	// "ping" or "push" (CIBA Core 1.0 §5).
	Mode string
	// Verdict is the user's decision, "approve" or "deny", once made.
	Verdict string
	// Outcome is how the flow ended: "tokens", "denied", "expired",
	// "refused" (at bc-authorize), "failed" (an error pushed), or ""
	// while it goes on.
	Outcome string
	// Start is when its first message was sent.
	Start time.Time
	// Messages are its messages released so far, in the order sent, the
	// first MaxMessages of them.
	Messages []Message
	// Dropped counts the messages released beyond MaxMessages.
	Dropped int

	key     string
	expired bool
}

// MaxMessages is how many messages a flow keeps (a request polled every
// second for its whole lifetime sends a few hundred); the later ones are
// still released, and counted.
const MaxMessages = 400

// Since is how long after the flow's first message m was sent.
func (f *Flow) Since(m Message) time.Duration {
	if d := m.At.Sub(f.Start); d > 0 {
		return d
	}
	return 0
}

// update records what event e tells about the flow.
func (f *Flow) update(e channel.Event) {
	if f.ClientID == "" {
		f.ClientID = e.ClientID
	}
	if f.User == "" {
		f.User = e.User
	}
	switch e.Type {
	case channel.EventNotification:
		f.Mode = e.Mode
		switch {
		case e.Kind == "tokens" && e.Error == "":
			f.Outcome = "tokens"
		case e.Kind == "error" && f.Verdict == channel.VerdictDeny:
			f.Outcome = "denied"
		case e.Kind == "error" && f.expired:
			f.Outcome = "expired"
		case e.Kind == "error":
			f.Outcome = "failed"
		}
	case channel.EventDecisionAccepted:
		f.Verdict = e.Detail
	case channel.EventRequestExpired:
		f.expired, f.Outcome = true, "expired"
	case channel.EventExchange:
		switch {
		case e.Endpoint == "bc-authorize" && e.Error != "":
			f.Outcome = "refused"
		case e.Endpoint == "token" && e.Error == "" && e.Status == 200:
			f.Outcome = "tokens"
		case e.Error == oauth.ErrAccessDenied:
			f.Outcome = "denied"
		case e.Error == oauth.ErrExpiredToken:
			f.Outcome = "expired"
		}
	}
}

// Filter selects flows; an empty field selects every flow.
type Filter struct {
	ClientID string
	User     string
	// Req is a request reference (oauth.ReqRef).
	Req string
}

func (fl Filter) match(f *Flow) bool {
	return (fl.ClientID == "" || f.ClientID == fl.ClientID) &&
		(fl.User == "" || f.User == fl.User) &&
		(fl.Req == "" || f.Req == fl.Req)
}

// Released is a message let out by a Tracker, with its flow.
type Released struct {
	Flow    *Flow
	Message Message
	// First marks the first message of its flow; N is its number in
	// the flow, from 1.
	First bool
	N     int
}

// TrackerConfig configures a Tracker; zero values are the documented
// defaults.
type TrackerConfig struct {
	// Hold is how long a message is held before it is released, so that
	// the messages of events that arrive out of order (an exchange is
	// published when answered, after what happened while it was handled)
	// are released in the order they were sent; 0 means 250 ms.
	Hold time.Duration
	// Filter selects the flows released.
	Filter Filter
	// MaxFlows is how many flows are remembered, the oldest forgotten
	// first; 0 means 1000.
	MaxFlows int
}

// Tracker groups events into flows and releases their messages in the
// order they were sent. It is not safe for concurrent use.
type Tracker struct {
	cfg     TrackerConfig
	flows   map[string]*Flow
	order   []*Flow // by first event
	pending []held
	seq     int
}

type held struct {
	key      string
	m        Message
	received time.Time
}

// NewTracker returns a Tracker.
func NewTracker(cfg TrackerConfig) *Tracker {
	if cfg.Hold <= 0 {
		cfg.Hold = 250 * time.Millisecond
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = 1000
	}
	return &Tracker{cfg: cfg, flows: map[string]*Flow{}}
}

// Add takes event e, received at now.
func (t *Tracker) Add(e channel.Event, now time.Time) {
	if e.Version != channel.Version {
		return
	}
	key := e.ReqRef
	if key == "" {
		if e.Type != channel.EventExchange {
			return // device events: no flow
		}
		t.seq++
		key = "#" + strconv.Itoa(t.seq)
	}
	f := t.flows[key]
	msgs := messages(e, f)
	if len(msgs) == 0 {
		return
	}
	if f == nil {
		f = &Flow{Req: e.ReqRef, Mode: "poll", key: key}
		t.flows[key] = f
		t.order = append(t.order, f)
		t.forget()
	}
	f.update(e)
	for _, m := range msgs {
		t.seq++
		m.seq = t.seq
		t.pending = append(t.pending, held{key: key, m: m, received: now})
	}
}

// forget drops the oldest flows beyond MaxFlows.
func (t *Tracker) forget() {
	for len(t.order) > t.cfg.MaxFlows {
		delete(t.flows, t.order[0].key)
		t.order = t.order[1:]
	}
}

// Release returns the messages held for Hold by now (every message held,
// with all), in the order they were sent, and appends them to their
// flows. Messages of flows the filter does not select are dropped.
func (t *Tracker) Release(now time.Time, all bool) []Released {
	slices.SortStableFunc(t.pending, func(a, b held) int {
		if c := a.m.At.Compare(b.m.At); c != 0 {
			return c
		}
		return a.m.seq - b.m.seq
	})
	var out []Released
	n := 0
	for _, h := range t.pending {
		if !all && now.Sub(h.received) < t.cfg.Hold {
			break
		}
		n++
		f := t.flows[h.key]
		if f == nil || !t.cfg.Filter.match(f) {
			continue
		}
		first := len(f.Messages) == 0
		if first {
			f.Start = h.m.At
		}
		m := h.m
		m.Req, m.ClientID, m.User = f.Req, f.ClientID, f.User
		if len(f.Messages) < MaxMessages {
			f.Messages = append(f.Messages, m)
		} else {
			f.Dropped++
		}
		out = append(out, Released{Flow: f, Message: m, First: first, N: len(f.Messages) + f.Dropped})
	}
	t.pending = slices.Delete(t.pending, 0, n)
	return out
}

// Flows returns the flows that have released messages, in the order of
// their first message.
func (t *Tracker) Flows() []*Flow {
	var out []*Flow
	for _, f := range t.order {
		if len(f.Messages) > 0 {
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b *Flow) int { return a.Start.Compare(b.Start) })
	return out
}
