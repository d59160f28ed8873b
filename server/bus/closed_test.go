package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/channel"
)

// nextClosed waits for the next request.closed message on sub.
func nextClosed(t testing.TB, sub *nats.Subscription) channel.RequestClosed {
	t.Helper()
	for {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no request.closed message: %v", err)
		}
		var c channel.RequestClosed
		if json.Unmarshal(m.Data, &c) == nil && c.Type == channel.RequestClosedType {
			return c
		}
	}
}

// TestRequestClosedTold: when a request is decided (by any of its user's
// devices), redeemed or expires, the OP tells every device of that user
// on its requests subject, so each takes the card off the screen.
func TestRequestClosedTold(t *testing.T) {
	clk := newClock()
	h := newHarnessWith(t, func(c *Config) { c.Now = clk.Now })
	phone := h.enroll(t, "user")
	tablet := h.enroll(t, "user")
	sub, err := tablet.nc.SubscribeSync(channel.UserRequestsSubject("master", "user"))
	if err != nil {
		t.Fatal(err)
	}
	if err := tablet.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"pending-user-1", "pending-user-2", "pending-user-3"} {
		if err := h.r.Announce(ctx, channel.AuthRequest{Version: 1, AuthReqID: id, ClientID: "c", User: "user", ExpiresAt: clk.Now().Add(time.Minute).Unix()}); err != nil {
			t.Fatal(err)
		}
	}
	// Decided on the phone: the tablet is told, with who decided.
	if res := phone.decide(t, phone.sign(t, claims(phone.id, "pending-user-1", "deny", "d1", clk.Now()))); !res.Accepted {
		t.Fatalf("decision: %+v", res)
	}
	if c := nextClosed(t, sub); c.AuthReqID != "pending-user-1" || c.Reason != channel.ClosedDenied || c.DeviceID != phone.id || c.User != "user" || c.Version != 1 {
		t.Fatalf("closed after a decision: %+v", c)
	}
	// Redeemed (the OP's lifecycle reports the transition).
	h.r.Transition(ctx, authreq.Event{Type: authreq.EventRedeemed, Time: clk.Now(), Detail: "poll",
		Request: &store.Request{ID: "pending-user-2", ClientID: "c", User: "user", Status: store.StatusRedeemed}})
	if c := nextClosed(t, sub); c.AuthReqID != "pending-user-2" || c.Reason != channel.ClosedRedeemed {
		t.Fatalf("closed after redemption: %+v", c)
	}
	// A redemption naming another user closes nothing.
	h.r.Transition(ctx, authreq.Event{Type: authreq.EventRedeemed, Time: clk.Now(), Detail: "poll",
		Request: &store.Request{ID: "pending-user-3", ClientID: "c", User: "alice", Status: store.StatusRedeemed}})
	// Expired undecided.
	clk.Advance(2 * time.Minute)
	h.r.closeExpired(clk.Now())
	if c := nextClosed(t, sub); c.AuthReqID != "pending-user-3" || c.Reason != channel.ClosedExpired {
		t.Fatalf("closed after expiry: %+v", c)
	}
	// Each request closes once.
	h.r.closeExpired(clk.Now())
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("a second message: %s", m.Data)
	}
}

// TestDeviceRateLimit: beyond its bucket a device is refused at once with
// rate_limited, nothing reaches the OP, and the bucket refills with time;
// another device is not affected.
func TestDeviceRateLimit(t *testing.T) {
	clk := newClock()
	h := newHarnessWith(t, func(c *Config) {
		c.Now = clk.Now
		c.DeviceLimits = DeviceLimits{DecideBurst: 2, DecideInterval: time.Second, PendingBurst: 1, PendingInterval: time.Second}
	})
	dev := h.enroll(t, "user")
	other := h.enroll(t, "alice")
	for i, want := range []string{channel.ErrNotYourRequest, channel.ErrNotYourRequest, channel.ErrRateLimited} {
		res := dev.decide(t, dev.sign(t, claims(dev.id, "pending-alice", "approve", "r"+string(rune('a'+i)), clk.Now())))
		if res.Error != want {
			t.Fatalf("decision %d: %+v, want %s", i, res, want)
		}
	}
	var p channel.PendingResponse
	request(t, dev.nc, channel.DevicePendingSubject("master", dev.id), channel.PendingRequest{Version: 1}, &p)
	if p.Error != "" {
		t.Fatalf("first pending list: %+v", p)
	}
	request(t, dev.nc, channel.DevicePendingSubject("master", dev.id), channel.PendingRequest{Version: 1}, &p)
	if p.Error != channel.ErrRateLimited || p.Requests == nil {
		t.Fatalf("second pending list: %+v", p)
	}
	// Another device still decides.
	if res := other.decide(t, other.sign(t, claims(other.id, "pending-alice", "approve", "o1", clk.Now()))); !res.Accepted {
		t.Fatalf("other device: %+v", res)
	}
	clk.Advance(time.Second)
	if res := dev.decide(t, dev.sign(t, claims(dev.id, "pending-user", "approve", "later", clk.Now()))); !res.Accepted {
		t.Fatalf("after the bucket refilled: %+v", res)
	}
	if got := h.dec.decisions(); len(got) != 2 {
		t.Fatalf("decisions %+v", got)
	}
}

// TestPendingListFitsInOneMessage: a user with more pending requests than
// one NATS message holds (64 KiB on the embedded server) gets the oldest
// that fit, marked More, instead of no answer at all.
func TestPendingListFitsInOneMessage(t *testing.T) {
	h := newHarness(t)
	h.dec.many = 1000
	dev := h.enroll(t, "user")
	var p channel.PendingResponse
	request(t, dev.nc, channel.DevicePendingSubject("master", dev.id), channel.PendingRequest{Version: 1}, &p)
	if p.Error != "" || !p.More || len(p.Requests) == 0 || len(p.Requests) >= 1000 {
		t.Fatalf("pending list of 1000: error %q, more %v, %d requests; want some of them and more", p.Error, p.More, len(p.Requests))
	}
	for i, r := range p.Requests {
		if want := fmt.Sprintf("pending-user-%05d", i); r.AuthReqID != want {
			t.Fatalf("request %d is %s, want %s: the oldest first", i, r.AuthReqID, want)
		}
	}
	h.dec.many = 3
	var all channel.PendingResponse
	request(t, dev.nc, channel.DevicePendingSubject("master", dev.id), channel.PendingRequest{Version: 1}, &all)
	if all.More || len(all.Requests) != 3 {
		t.Fatalf("pending list of 3: more %v, %d requests; want all 3", all.More, len(all.Requests))
	}
}

// TestFitPending: the oldest requests whose encodings fit the budget; at
// least one.
func TestFitPending(t *testing.T) {
	reqs := []channel.AuthRequest{{AuthReqID: "a"}, {AuthReqID: "b"}, {AuthReqID: "c"}}
	one, _ := json.Marshal(reqs[0])
	for _, tt := range []struct {
		budget int
		n      int
		more   bool
	}{{1 << 20, 3, false}, {2 * (len(one) + 1), 2, true}, {1, 1, true}} {
		got, more := fitPending(reqs, tt.budget)
		if len(got) != tt.n || more != tt.more {
			t.Errorf("budget %d: %d requests, more %v; want %d, %v", tt.budget, len(got), more, tt.n, tt.more)
		}
	}
}
