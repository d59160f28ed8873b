package op

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/store"
)

// Long polling at the token endpoint (checklist §3.1: the OP may hold a
// poll until the result is ready or a timeout, and should not hold it
// longer than 30 s). With Config.LongPoll set, a poll on a request that is
// still pending is held until the request is decided or expires, or
// LongPoll has passed, and then answered as usual: a flow whose decision
// comes while its first poll is held needs that one token request.

const (
	// MaxLongPoll bounds Config.LongPoll: below the 30 s the checklist
	// names and the HTTP server's 30 s write timeout.
	MaxLongPoll = 25 * time.Second
	// maxHeldPolls bounds the polls held at once; beyond it a poll is
	// answered at once, as without long polling.
	maxHeldPolls = 4096
	// heldRecheck is how often a held poll looks at its request again even
	// when no decision was seen here: another OP sharing the store may have
	// applied it, or the request may have expired.
	heldRecheck = 500 * time.Millisecond
)

// holds are the polls held by this provider, by auth_req_id; a decision
// applied here wakes the polls held on its request at once.
type holds struct {
	mu sync.Mutex
	n  int
	m  map[string][]chan struct{}
}

func newHolds() *holds { return &holds{m: map[string][]chan struct{}{}} }

// add registers a held poll on id; it reports false when maxHeldPolls
// are held already. release must be called once.
func (h *holds) add(id string) (wake <-chan struct{}, release func(), ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n >= maxHeldPolls {
		return nil, nil, false
	}
	ch := make(chan struct{}, 1)
	h.m[id] = append(h.m[id], ch)
	h.n++
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		chs := h.m[id]
		for i, c := range chs {
			if c == ch {
				chs = append(chs[:i], chs[i+1:]...)
				h.n--
				break
			}
		}
		if len(chs) == 0 {
			delete(h.m, id)
		} else {
			h.m[id] = chs
		}
	}, true
}

// wake tells the polls held on id that the request changed.
func (h *holds) wake(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ch := range h.m[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// held reports how many polls are held.
func (h *holds) held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// holdPoll holds a poll of clientID on id that was answered pending, and
// returns what authreq.Lifecycle.Collect finds once the request was
// decided, expired or LongPoll passed: the redeemed request, or the error
// to answer. While it waits the poll gives back its token endpoint slot
// (throttle.go), so held polls never refuse other clients; it takes one
// again before it looks, or answers 503 temporarily_unavailable, having
// changed nothing. A client that goes away ends the hold.
func (p *Provider) holdPoll(r *http.Request, clientID, id string) (*store.Request, error) {
	wake, release, ok := p.holds.add(id)
	if !ok {
		return nil, authreq.ErrPending
	}
	defer release()
	slot := slotOf(r.Context())
	slot.free()
	ctx := r.Context()
	deadline := time.NewTimer(p.cfg.LongPoll)
	defer deadline.Stop()
	recheck := time.NewTicker(heldRecheck)
	defer recheck.Stop()
	for last := false; ; {
		// The first look closes the window between the poll and add: a
		// decision applied meanwhile woke nobody.
		if !slot.retake() {
			return nil, unavailable(1, "too many requests in flight; retry later")
		}
		req, err := p.life.Collect(ctx, clientID, id)
		if !errors.Is(err, authreq.ErrPending) || last {
			return req, err
		}
		slot.free()
		select {
		case <-wake:
		case <-recheck.C:
		case <-deadline.C:
			last = true
		case <-ctx.Done():
			return nil, authreq.ErrPending // nobody is listening any more
		}
	}
}

// tokenSlot is the token endpoint slot (Provider.tokenGate) of one token
// request, which a held poll gives back while it waits. Only the request's
// goroutine uses it.
type tokenSlot struct {
	g    *gate
	held bool
}

// free gives the slot back, if held.
func (s *tokenSlot) free() {
	if s != nil && s.held {
		s.g.release()
		s.held = false
	}
}

// retake takes a slot again, without waiting; it reports whether one is
// held. A request that never had one (no slot in its context) always may.
func (s *tokenSlot) retake() bool {
	if s == nil {
		return true
	}
	if !s.held {
		s.held = s.g.tryAcquire()
	}
	return s.held
}

type tokenSlotKey struct{}

// slotOf returns the token endpoint slot of the request of ctx; nil when
// it has none.
func slotOf(ctx context.Context) *tokenSlot {
	s, _ := ctx.Value(tokenSlotKey{}).(*tokenSlot)
	return s
}
