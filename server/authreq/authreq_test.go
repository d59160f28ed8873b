package authreq_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/store"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder is a Sink that keeps the events.
type recorder struct {
	mu     sync.Mutex
	events []authreq.Event
}

func (r *recorder) Transition(_ context.Context, e authreq.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) since(n int) []authreq.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]authreq.Event(nil), r.events[n:]...)
}

func (r *recorder) len() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.events) }

const (
	interval = 5 * time.Second
	lifetime = 60 * time.Second
	reqID    = "req-1"
)

type harness struct {
	l     *authreq.Lifecycle
	st    store.Store
	clock *clock
	sink  *recorder
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{st: store.NewMemory(), clock: &clock{t: time.Unix(1_700_000_000, 0)}, sink: &recorder{}}
	l, err := authreq.New(authreq.Config{
		Store: h.st, Sink: h.sink, Now: h.clock.Now,
		SelectACR: func(requested []string, device string) string { return "acr:" + device },
	})
	if err != nil {
		t.Fatal(err)
	}
	h.l = l
	return h
}

func (h *harness) create(t *testing.T) {
	t.Helper()
	err := h.l.Create(context.Background(), &store.Request{
		ID: reqID, ClientID: "client1", User: "alice", Scope: []string{"openid"},
		Interval: interval, ExpiresAt: h.clock.Now().Add(lifetime),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (h *harness) must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTransitions applies every event to every state of a request and
// checks the outcome, the state that results, and the event reported.
func TestTransitions(t *testing.T) {
	ctx := context.Background()
	// The states' decisions come from device dev-a; the events' from dev-b,
	// but for the resend.
	approve := authreq.Verdict{Approve: true, ACR: "pin", AMR: []string{"pin"}, Device: "dev-a"}
	deny := authreq.Verdict{Device: "dev-a"}

	// States, each reached from a new request at the harness's clock.
	states := []struct {
		name  string
		reach func(t *testing.T, h *harness)
	}{
		{"unknown", func(t *testing.T, h *harness) {}},
		{"pending", func(t *testing.T, h *harness) { h.create(t) }},
		{"pending, just polled", func(t *testing.T, h *harness) {
			h.create(t)
			if _, err := h.l.Poll(ctx, "client1", reqID); !errors.Is(err, authreq.ErrPending) {
				t.Fatal(err)
			}
		}},
		{"approved", func(t *testing.T, h *harness) {
			h.create(t)
			_, _, err := h.l.Decide(ctx, "alice", reqID, approve)
			h.must(t, err)
		}},
		{"denied", func(t *testing.T, h *harness) {
			h.create(t)
			_, _, err := h.l.Decide(ctx, "alice", reqID, deny)
			h.must(t, err)
		}},
		{"redeemed", func(t *testing.T, h *harness) {
			h.create(t)
			_, _, err := h.l.Decide(ctx, "alice", reqID, approve)
			h.must(t, err)
			_, err = h.l.Poll(ctx, "client1", reqID)
			h.must(t, err)
		}},
		{"expired pending", func(t *testing.T, h *harness) { h.create(t); h.clock.Advance(lifetime) }},
		{"expired approved", func(t *testing.T, h *harness) {
			h.create(t)
			_, _, err := h.l.Decide(ctx, "alice", reqID, approve)
			h.must(t, err)
			h.clock.Advance(lifetime)
		}},
		{"expired denied", func(t *testing.T, h *harness) {
			h.create(t)
			_, _, err := h.l.Decide(ctx, "alice", reqID, deny)
			h.must(t, err)
			h.clock.Advance(lifetime)
		}},
		{"expired, expiry push claimed", func(t *testing.T, h *harness) {
			h.create(t)
			h.clock.Advance(lifetime)
			_, err := h.l.ClaimExpiryPush(ctx, reqID)
			h.must(t, err)
		}},
	}

	// Events.
	type event struct {
		name string
		do   func(h *harness) error
	}
	events := []event{
		{"poll at once", func(h *harness) error { _, err := h.l.Poll(ctx, "client1", reqID); return err }},
		{"poll after the interval", func(h *harness) error {
			h.clock.Advance(interval)
			_, err := h.l.Poll(ctx, "client1", reqID)
			return err
		}},
		{"poll by another client", func(h *harness) error { _, err := h.l.Poll(ctx, "client2", reqID); return err }},
		{"approve", func(h *harness) error {
			_, _, err := h.l.Decide(ctx, "alice", reqID, authreq.Verdict{Approve: true, Device: "dev-b"})
			return err
		}},
		{"deny", func(h *harness) error {
			_, _, err := h.l.Decide(ctx, "alice", reqID, authreq.Verdict{Device: "dev-b"})
			return err
		}},
		{"decision of another user", func(h *harness) error { _, _, err := h.l.Decide(ctx, "bob", reqID, approve); return err }},
		// dev-a sends its approval again (its first answer was lost).
		{"approval resent", func(h *harness) error { _, _, err := h.l.Decide(ctx, "alice", reqID, approve); return err }},
		{"approval after its NotAfter", func(h *harness) error {
			_, _, err := h.l.Decide(ctx, "alice", reqID, authreq.Verdict{Approve: true, Device: "dev-b", NotAfter: h.clock.Now().Add(-time.Millisecond)})
			return err
		}},
		{"push acknowledged", func(h *harness) error { _, err := h.l.RecordPushed(ctx, reqID); return err }},
		{"notification failed", func(h *harness) error { return h.l.RecordNotification(ctx, reqID, false) }},
		{"claim expiry push", func(h *harness) error { _, err := h.l.ClaimExpiryPush(ctx, reqID); return err }},
		// The token endpoint gives back the request it read, its tokens
		// not issued.
		{"unredeem", func(h *harness) error {
			cur, err := h.st.Get(ctx, reqID)
			if err != nil {
				return err
			}
			return h.l.Unredeem(ctx, cur)
		}},
		// A second after the state: expired requests are past their
		// expiry, and a zero retention deletes them.
		{"sweep", func(h *harness) error {
			h.clock.Advance(time.Second)
			_, err := h.l.Sweep(ctx, 0)
			return err
		}},
	}

	type want struct {
		err    error
		status store.Status      // "" when the request does not exist
		event  authreq.EventType // the last event reported, "" for none
	}
	const (
		pending  = store.StatusPending
		approved = store.StatusApproved
		denied   = store.StatusDenied
		redeemed = store.StatusRedeemed
	)
	notFound := want{store.ErrNotFound, "", ""}
	// table[state][event]
	table := map[string]map[string]want{
		"unknown": {
			"unredeem": {store.ErrNotFound, "", ""}, "sweep": {nil, "", ""},
			"approval resent": {authreq.ErrNotYours, "", ""}, "approval after its NotAfter": {authreq.ErrNotYours, "", ""},
			"poll at once": {authreq.ErrUnknown, "", ""}, "poll after the interval": {authreq.ErrUnknown, "", ""},
			"poll by another client": {authreq.ErrUnknown, "", ""},
			"approve":                {authreq.ErrNotYours, "", ""}, "deny": {authreq.ErrNotYours, "", ""},
			"decision of another user": {authreq.ErrNotYours, "", ""},
			"push acknowledged":        notFound, "notification failed": notFound,
			"claim expiry push": {authreq.ErrClaimed, "", ""},
		},
		"pending": {
			"unredeem": {authreq.ErrChanged, pending, ""}, "sweep": {nil, pending, ""},
			"approval resent": {nil, approved, authreq.EventApproved}, "approval after its NotAfter": {authreq.ErrLapsed, pending, ""},
			"poll at once": {authreq.ErrPending, pending, authreq.EventPolled}, "poll after the interval": {authreq.ErrPending, pending, authreq.EventPolled},
			"poll by another client": {authreq.ErrUnknown, pending, ""},
			"approve":                {nil, approved, authreq.EventApproved}, "deny": {nil, denied, authreq.EventDenied},
			"decision of another user": {authreq.ErrNotYours, pending, ""},
			"push acknowledged":        {nil, pending, authreq.EventNotified}, "notification failed": {nil, pending, authreq.EventNotified},
			"claim expiry push": {authreq.ErrClaimed, pending, ""},
		},
		"pending, just polled": {
			"unredeem": {authreq.ErrChanged, pending, ""}, "sweep": {nil, pending, ""},
			"approval resent": {nil, approved, authreq.EventApproved}, "approval after its NotAfter": {authreq.ErrLapsed, pending, ""},
			"poll at once": {authreq.ErrSlowDown, pending, authreq.EventPolled}, "poll after the interval": {authreq.ErrPending, pending, authreq.EventPolled},
			"poll by another client": {authreq.ErrUnknown, pending, ""},
			"approve":                {nil, approved, authreq.EventApproved}, "deny": {nil, denied, authreq.EventDenied},
			"decision of another user": {authreq.ErrNotYours, pending, ""},
			"push acknowledged":        {nil, pending, authreq.EventNotified}, "notification failed": {nil, pending, authreq.EventNotified},
			"claim expiry push": {authreq.ErrClaimed, pending, ""},
		},
		"approved": {
			"unredeem": {authreq.ErrChanged, approved, ""}, "sweep": {nil, approved, ""},
			"approval resent": {nil, approved, ""}, "approval after its NotAfter": {authreq.ErrNotPending, approved, ""},
			"poll at once": {nil, redeemed, authreq.EventRedeemed}, "poll after the interval": {nil, redeemed, authreq.EventRedeemed},
			"poll by another client": {authreq.ErrUnknown, approved, ""},
			"approve":                {authreq.ErrNotPending, approved, ""}, "deny": {authreq.ErrNotPending, approved, ""},
			"decision of another user": {authreq.ErrNotYours, approved, ""},
			"push acknowledged":        {nil, redeemed, authreq.EventRedeemed}, "notification failed": {nil, approved, authreq.EventNotified},
			"claim expiry push": {authreq.ErrClaimed, approved, ""},
		},
		"denied": {
			"unredeem": {authreq.ErrChanged, denied, ""}, "sweep": {nil, denied, ""},
			"approval resent": {authreq.ErrNotPending, denied, ""}, "approval after its NotAfter": {authreq.ErrNotPending, denied, ""},
			"poll at once": {authreq.ErrDenied, denied, ""}, "poll after the interval": {authreq.ErrDenied, denied, ""},
			"poll by another client": {authreq.ErrUnknown, denied, ""},
			"approve":                {authreq.ErrNotPending, denied, ""}, "deny": {authreq.ErrNotPending, denied, ""},
			"decision of another user": {authreq.ErrNotYours, denied, ""},
			"push acknowledged":        {nil, denied, authreq.EventNotified}, "notification failed": {nil, denied, authreq.EventNotified},
			"claim expiry push": {authreq.ErrClaimed, denied, ""},
		},
		"redeemed": {
			"unredeem": {nil, approved, authreq.EventUnredeemed}, "sweep": {nil, redeemed, ""},
			"approval resent": {nil, redeemed, ""}, "approval after its NotAfter": {authreq.ErrNotPending, redeemed, ""},
			"poll at once": {authreq.ErrRedeemed, redeemed, ""}, "poll after the interval": {authreq.ErrRedeemed, redeemed, ""},
			"poll by another client": {authreq.ErrUnknown, redeemed, ""},
			"approve":                {authreq.ErrNotPending, redeemed, ""}, "deny": {authreq.ErrNotPending, redeemed, ""},
			"decision of another user": {authreq.ErrNotYours, redeemed, ""},
			"push acknowledged":        {nil, redeemed, authreq.EventNotified}, "notification failed": {nil, redeemed, authreq.EventNotified},
			"claim expiry push": {authreq.ErrClaimed, redeemed, ""},
		},
		"expired pending": {
			"unredeem": {authreq.ErrChanged, pending, ""}, "sweep": {nil, "", ""},
			"approval resent": {authreq.ErrNotPending, pending, ""}, "approval after its NotAfter": {authreq.ErrNotPending, pending, ""},
			"poll at once": {authreq.ErrExpired, pending, ""}, "poll after the interval": {authreq.ErrExpired, pending, ""},
			"poll by another client": {authreq.ErrUnknown, pending, ""},
			"approve":                {authreq.ErrNotPending, pending, ""}, "deny": {authreq.ErrNotPending, pending, ""},
			"decision of another user": {authreq.ErrNotYours, pending, ""},
			"push acknowledged":        {nil, pending, authreq.EventNotified}, "notification failed": {nil, pending, authreq.EventNotified},
			"claim expiry push": {nil, pending, authreq.EventExpired},
		},
		"expired approved": {
			"unredeem": {authreq.ErrChanged, approved, ""}, "sweep": {nil, "", ""},
			"approval resent": {nil, approved, ""}, "approval after its NotAfter": {authreq.ErrNotPending, approved, ""},
			"poll at once": {authreq.ErrExpired, approved, ""}, "poll after the interval": {authreq.ErrExpired, approved, ""},
			"poll by another client": {authreq.ErrUnknown, approved, ""},
			"approve":                {authreq.ErrNotPending, approved, ""}, "deny": {authreq.ErrNotPending, approved, ""},
			"decision of another user": {authreq.ErrNotYours, approved, ""},
			// A push acknowledged at the edge of expiry still consumes the
			// grant it delivered.
			"push acknowledged": {nil, redeemed, authreq.EventRedeemed}, "notification failed": {nil, approved, authreq.EventNotified},
			"claim expiry push": {authreq.ErrClaimed, approved, ""},
		},
		"expired denied": {
			"unredeem": {authreq.ErrChanged, denied, ""}, "sweep": {nil, "", ""},
			"approval resent": {authreq.ErrNotPending, denied, ""}, "approval after its NotAfter": {authreq.ErrNotPending, denied, ""},
			"poll at once": {authreq.ErrExpired, denied, ""}, "poll after the interval": {authreq.ErrExpired, denied, ""},
			"poll by another client": {authreq.ErrUnknown, denied, ""},
			"approve":                {authreq.ErrNotPending, denied, ""}, "deny": {authreq.ErrNotPending, denied, ""},
			"decision of another user": {authreq.ErrNotYours, denied, ""},
			"push acknowledged":        {nil, denied, authreq.EventNotified}, "notification failed": {nil, denied, authreq.EventNotified},
			"claim expiry push": {authreq.ErrClaimed, denied, ""},
		},
		"expired, expiry push claimed": {
			"unredeem": {authreq.ErrChanged, pending, ""}, "sweep": {nil, "", ""},
			"approval resent": {authreq.ErrNotPending, pending, ""}, "approval after its NotAfter": {authreq.ErrNotPending, pending, ""},
			"poll at once": {authreq.ErrExpired, pending, ""}, "poll after the interval": {authreq.ErrExpired, pending, ""},
			"poll by another client": {authreq.ErrUnknown, pending, ""},
			"approve":                {authreq.ErrNotPending, pending, ""}, "deny": {authreq.ErrNotPending, pending, ""},
			"decision of another user": {authreq.ErrNotYours, pending, ""},
			"push acknowledged":        {nil, pending, authreq.EventNotified}, "notification failed": {nil, pending, authreq.EventNotified},
			"claim expiry push": {authreq.ErrClaimed, pending, ""},
		},
	}

	for _, st := range states {
		for _, ev := range events {
			w, ok := table[st.name][ev.name]
			if !ok {
				t.Fatalf("the table has no cell for %q × %q", st.name, ev.name)
			}
			t.Run(st.name+" × "+ev.name, func(t *testing.T) {
				h := newHarness(t)
				st.reach(t, h)
				n := h.sink.len()
				err := ev.do(h)
				if !errors.Is(err, w.err) || (w.err == nil) != (err == nil) {
					t.Fatalf("error %v, want %v", err, w.err)
				}
				got, gerr := h.st.Get(context.Background(), reqID)
				switch {
				case w.status == "" && !errors.Is(gerr, store.ErrNotFound):
					t.Fatalf("a request exists (%v)", gerr)
				case w.status != "" && gerr != nil:
					t.Fatal(gerr)
				case w.status != "" && got.Status != w.status:
					t.Fatalf("status %s, want %s", got.Status, w.status)
				}
				evs := h.sink.since(n)
				last := authreq.EventType("")
				if len(evs) > 0 {
					last = evs[len(evs)-1].Type
					if evs[len(evs)-1].Request.Revision != got.Revision {
						t.Errorf("the event carries revision %d, the store %d", evs[len(evs)-1].Request.Revision, got.Revision)
					}
				}
				if last != w.event {
					t.Fatalf("event %q, want %q (all: %v)", last, w.event, evs)
				}
			})
		}
	}
}

// TestPollInterval: the acknowledgement is not a poll (§7.3); slow_down
// raises the interval by 5 s for good and is itself a poll (§11).
func TestPollInterval(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.create(t)
	steps := []struct {
		advance time.Duration
		want    error
		next    time.Duration // the interval afterwards
	}{
		{0, authreq.ErrPending, 5 * time.Second},
		{0, authreq.ErrSlowDown, 10 * time.Second},
		{5 * time.Second, authreq.ErrSlowDown, 15 * time.Second},
		{15 * time.Second, authreq.ErrPending, 15 * time.Second},
		{14 * time.Second, authreq.ErrSlowDown, 20 * time.Second},
	}
	for i, s := range steps {
		h.clock.Advance(s.advance)
		_, err := h.l.Poll(ctx, "client1", reqID)
		if !errors.Is(err, s.want) {
			t.Fatalf("poll %d: %v, want %v", i, err, s.want)
		}
		var sd *authreq.SlowDownError
		if errors.As(err, &sd) && sd.Interval != s.next {
			t.Fatalf("poll %d: slow_down says %v, want %v", i, sd.Interval, s.next)
		}
		got, _ := h.st.Get(ctx, reqID)
		if got.Interval != s.next || got.Polls != i+1 {
			t.Fatalf("poll %d: interval %v polls %d, want %v and %d", i, got.Interval, got.Polls, s.next, i+1)
		}
	}
}

// TestPollTolerance: a poll up to PollTolerance early is not slow_down.
func TestPollTolerance(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	st := store.NewMemory()
	l, err := authreq.New(authreq.Config{Store: st, PollTolerance: 500 * time.Millisecond, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Create(ctx, &store.Request{ID: reqID, ClientID: "c", User: "u", Interval: interval, ExpiresAt: c.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	for i, adv := range []time.Duration{0, interval - 500*time.Millisecond, interval - 501*time.Millisecond} {
		c.Advance(adv)
		_, err := l.Poll(ctx, "c", reqID)
		want := authreq.ErrPending
		if i == 2 {
			want = authreq.ErrSlowDown
		}
		if !errors.Is(err, want) {
			t.Fatalf("poll %d after %v: %v, want %v", i, adv, err, want)
		}
	}
}

// TestApprovalRecordsTheAuthentication: the acr goes through SelectACR,
// the amr and the time are kept, and the redeemed request carries them.
func TestApprovalRecordsTheAuthentication(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.create(t)
	h.clock.Advance(3 * time.Second)
	decidedAt := h.clock.Now()
	if _, _, err := h.l.Decide(ctx, "alice", reqID, authreq.Verdict{Approve: true, ACR: "pin", AMR: []string{"pin", "swk"}}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Second)
	r, err := h.l.Poll(ctx, "client1", reqID)
	if err != nil {
		t.Fatal(err)
	}
	if r.ACR != "acr:pin" || fmt.Sprint(r.AMR) != "[pin swk]" || !r.AuthTime.Equal(decidedAt) || !r.DecidedAt.Equal(decidedAt) || !r.RedeemedAt.Equal(h.clock.Now()) {
		t.Fatalf("redeemed request %+v", r)
	}
}

// TestConcurrentPollsRedeemOnce: of many concurrent polls of an approved
// request exactly one redeems it (§10.1.1).
func TestConcurrentPollsRedeemOnce(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.create(t)
	if _, _, err := h.l.Decide(ctx, "alice", reqID, authreq.Verdict{Approve: true}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, redeemed := 0, 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.l.Poll(ctx, "client1", reqID)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, authreq.ErrRedeemed):
				redeemed++
			default:
				t.Errorf("poll: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || redeemed != 15 {
		t.Fatalf("%d polls redeemed, %d were told it was redeemed; want 1 and 15", wins, redeemed)
	}
}

// TestUnredeem gives a redeemed request back once, and never one that
// changed since.
func TestUnredeem(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.create(t)
	if _, _, err := h.l.Decide(ctx, "alice", reqID, authreq.Verdict{Approve: true}); err != nil {
		t.Fatal(err)
	}
	r, err := h.l.Poll(ctx, "client1", reqID)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.l.Unredeem(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := h.l.Unredeem(ctx, r); err == nil {
		t.Fatal("a second Unredeem of the same revision succeeded")
	}
	again, err := h.l.Poll(ctx, "client1", reqID)
	if err != nil || again.Status != store.StatusRedeemed {
		t.Fatalf("the given-back request does not redeem again: %v", err)
	}
}

// TestExpiryPushClaim: the claim is taken once, released by its taker
// only, and lists of expired undecided requests skip claimed ones.
func TestExpiryPushClaim(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.create(t)
	if reqs, _ := h.l.ExpiredUndecided(ctx); len(reqs) != 0 {
		t.Fatalf("an unexpired request is listed as expired: %v", reqs)
	}
	if reqs, _ := h.l.Pending(ctx, "alice"); len(reqs) != 1 {
		t.Fatalf("pending %v, want the request", reqs)
	}
	h.clock.Advance(lifetime)
	if reqs, _ := h.l.Pending(ctx, "alice"); len(reqs) != 0 {
		t.Fatalf("an expired request is listed as pending: %v", reqs)
	}
	if reqs, _ := h.l.ExpiredUndecided(ctx); len(reqs) != 1 {
		t.Fatalf("expired undecided %v, want the request", reqs)
	}
	claimed, err := h.l.ClaimExpiryPush(ctx, reqID)
	if err != nil {
		t.Fatal(err)
	}
	if reqs, _ := h.l.ExpiredUndecided(ctx); len(reqs) != 0 {
		t.Fatalf("a claimed request is still listed: %v", reqs)
	}
	stale := claimed.Clone()
	stale.ExpiryPushedAt = stale.ExpiryPushedAt.Add(-time.Second)
	if err := h.l.ReleaseExpiryPush(ctx, stale); !errors.Is(err, authreq.ErrClaimed) {
		t.Fatalf("a release by another claim: %v", err)
	}
	if err := h.l.ReleaseExpiryPush(ctx, claimed); err != nil {
		t.Fatal(err)
	}
	if _, err := h.l.ClaimExpiryPush(ctx, reqID); err != nil {
		t.Fatalf("the released claim cannot be taken again: %v", err)
	}
}

// TestSweep deletes only requests expired longer than the retention.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.create(t)
	h.clock.Advance(lifetime + 5*time.Minute)
	if n, err := h.l.Sweep(ctx, 10*time.Minute); err != nil || n != 0 {
		t.Fatalf("swept %d (%v) within the retention", n, err)
	}
	h.clock.Advance(6 * time.Minute)
	if n, err := h.l.Sweep(ctx, 10*time.Minute); err != nil || n != 1 {
		t.Fatalf("swept %d (%v), want 1", n, err)
	}
	if _, err := h.l.Poll(ctx, "client1", reqID); !errors.Is(err, authreq.ErrUnknown) {
		t.Fatalf("a swept request polls as %v", err)
	}
}

// TestCreateChecks: Create refuses an incomplete request and a taken ID.
func TestCreateChecks(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	for _, r := range []*store.Request{
		{ClientID: "c", User: "u", ExpiresAt: h.clock.Now()},
		{ID: "x", User: "u", ExpiresAt: h.clock.Now()},
		{ID: "x", ClientID: "c", ExpiresAt: h.clock.Now()},
		{ID: "x", ClientID: "c", User: "u"},
	} {
		if err := h.l.Create(ctx, r); err == nil {
			t.Errorf("Create(%+v) succeeded", r)
		}
	}
	h.create(t)
	err := h.l.Create(ctx, &store.Request{ID: reqID, ClientID: "c", User: "u", ExpiresAt: h.clock.Now().Add(time.Minute)})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("a taken ID: %v", err)
	}
	if h.sink.len() != 1 {
		t.Fatalf("%d events, want the one creation", h.sink.len())
	}
}

// TestCollect: the second look of a held poll answers as Poll does but is
// not a poll: pending stays pending however soon (no slow_down), the
// request's polls and last poll are the held one's, and no event is
// reported for it; a decision made meanwhile is collected, once.
func TestCollect(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.create(t)
	if _, err := h.l.Poll(ctx, "client1", reqID); !errors.Is(err, authreq.ErrPending) {
		t.Fatalf("poll: %v, want pending", err)
	}
	held, _ := h.st.Get(ctx, reqID)
	events := h.sink.len()
	for i := range 3 {
		if _, err := h.l.Collect(ctx, "client1", reqID); err != authreq.ErrPending {
			t.Fatalf("collect %d: %v, want pending (not slow_down)", i, err)
		}
	}
	got, _ := h.st.Get(ctx, reqID)
	if got.Polls != 1 || !got.LastPoll.Equal(held.LastPoll) || got.Interval != interval || got.Revision != held.Revision {
		t.Fatalf("after collects: polls %d, last poll %v, interval %v, revision %d; want the held poll's (1, %v, %v, %d)",
			got.Polls, got.LastPoll, got.Interval, got.Revision, held.LastPoll, interval, held.Revision)
	}
	if n := h.sink.len(); n != events {
		t.Fatalf("collects reported %d events, want none", n-events)
	}
	if _, err := h.l.Collect(ctx, "other", reqID); !errors.Is(err, authreq.ErrUnknown) {
		t.Fatalf("another client's collect: %v, want unknown", err)
	}
	if _, _, err := h.l.Decide(ctx, "alice", reqID, authreq.Verdict{Approve: true}); err != nil {
		t.Fatal(err)
	}
	req, err := h.l.Collect(ctx, "client1", reqID)
	if err != nil || req.Status != store.StatusRedeemed {
		t.Fatalf("collect after approval: %+v, %v; want the request redeemed", req, err)
	}
	if _, err := h.l.Collect(ctx, "client1", reqID); !errors.Is(err, authreq.ErrRedeemed) {
		t.Fatalf("second collect: %v, want redeemed", err)
	}
}
