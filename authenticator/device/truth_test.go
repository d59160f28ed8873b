package device_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cibalab/cibalab/authenticator/device"
	"github.com/cibalab/cibalab/authenticator/internal/fakeop"
	"github.com/cibalab/cibalab/shared/channel"
)

// TestFailedDecisionNeverAppliedLater: with the OP's NATS server down,
// Decide keeps trying until the decision lapses and then reports it as not
// delivered; when the server comes back, nothing is published late: the
// request is still pending and no decision reached the OP.
func TestFailedDecisionNeverAppliedLater(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	d := connect(t, op, device.Config{DecisionLifetime: time.Second, RequestTimeout: 200 * time.Millisecond})
	r := op.NewRequest("alice", "while the OP is away")
	retries := 0
	var err error
	op.RestartNATS(t, func() {
		err = d.Decide(context.Background(), r.AuthReqID, channel.VerdictApprove, "", []string{"swk"},
			device.OnRetry(func(error, time.Time) { retries++ }))
	})
	if !errors.Is(err, device.ErrNotDelivered) {
		t.Fatalf("Decide with the OP away: %v, want ErrNotDelivered", err)
	}
	if retries == 0 {
		t.Fatal("Decide did not retry")
	}
	// The device reconnects and talks to the OP again: anything buffered
	// would have been published by now.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pending []channel.AuthRequest
	for {
		pending, err = d.Pending(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Pending after the restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(pending) != 1 || pending[0].AuthReqID != r.AuthReqID {
		t.Fatalf("pending after the restart: %+v, want the request still pending", pending)
	}
	if got := op.Decisions(); len(got) != 0 {
		t.Fatalf("a decision reported as failed reached the OP later: %+v", got)
	}
}

// TestDecideRetriesTimedOut: when the OP's answer is late, Decide sends
// the same decision again and reports the OP's one outcome; the OP
// applies it once.
func TestDecideRetriesTimedOut(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	d := connect(t, op, device.Config{RequestTimeout: 100 * time.Millisecond})
	r := op.NewRequest("alice", "slow OP")
	release := op.HoldDecisions(t)
	retried := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() {
		done <- d.Decide(context.Background(), r.AuthReqID, channel.VerdictApprove, "", []string{"swk"},
			device.OnRetry(func(error, time.Time) { retried <- struct{}{} }))
	}()
	for i := 0; i < 2; i++ {
		select {
		case <-retried:
		case <-time.After(10 * time.Second):
			t.Fatal("no retry after a timeout")
		}
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Decide: %v, want accepted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Decide did not return")
	}
	if got := op.Decisions(); len(got) != 1 {
		t.Fatalf("%d decisions applied, want 1", len(got))
	}
}

// TestRateLimitedRetried: rate_limited means the OP did nothing: Decide
// tries again and gives up when the decision lapses.
func TestRateLimitedRetried(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	d := connect(t, op, device.Config{DecisionLifetime: time.Second})
	op.RefuseDecisions(channel.ErrRateLimited, "slow down")
	r := op.NewRequest("alice", "limited")
	n := 0
	err := d.Decide(context.Background(), r.AuthReqID, channel.VerdictApprove, "", nil, device.OnRetry(func(error, time.Time) { n++ }))
	if !errors.Is(err, device.ErrNotDelivered) || n == 0 {
		t.Fatalf("Decide: %v after %d retries, want ErrNotDelivered after retries", err, n)
	}
}

// TestClosedRequests: a request the OP says is closed is taken off the
// screen when it was delivered (Closed), never delivered when it was not,
// and never delivered again, not even when a pending list names it; a
// request no longer listed after a reconnect is closed as gone.
func TestClosedRequests(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	d := connect(t, op, device.Config{})
	shown := op.NewRequest("alice", "shown")
	op.Announce(t, shown)
	if got := next(t, d); got.AuthReqID != shown.AuthReqID {
		t.Fatalf("got %q", got.BindingMessage)
	}
	queued := op.NewRequest("alice", "queued")
	op.Announce(t, queued)
	op.CloseRequest(t, shown.AuthReqID, channel.ClosedApproved)
	if c := nextClosure(t, d); c.AuthReqID != shown.AuthReqID || c.Reason != channel.ClosedApproved {
		t.Fatalf("closure %+v", c)
	}
	// queued was delivered-or-not: read it, then close it.
	if got := next(t, d); got.AuthReqID != queued.AuthReqID {
		t.Fatalf("got %q", got.BindingMessage)
	}
	// Closed before delivery: never delivered.
	hidden := op.NewRequest("alice", "closed before shown")
	op.Announce(t, hidden)
	op.CloseRequest(t, hidden.AuthReqID, channel.ClosedExpired)
	// Announced again (a duplicate): still never delivered.
	op.Announce(t, shown)
	// Decided while the device was away: closed as gone after the
	// reconnect.
	op.Forget(queued.AuthReqID)
	op.KickClients(t)
	if c := nextClosure(t, d); c.AuthReqID != queued.AuthReqID || c.Reason != device.ClosedGone {
		t.Fatalf("closure after the reconnect %+v", c)
	}
	last := op.NewRequest("alice", "last")
	op.Announce(t, last)
	if got := next(t, d); got.AuthReqID != last.AuthReqID {
		t.Fatalf("got %q, want only the new request", got.BindingMessage)
	}
	// Garbage typed messages change nothing.
	op.PublishRaw(t, "alice", []byte(`{"v":1,"type":"request.closed","auth_req_id":"`+last.AuthReqID+`","user":"bob","reason":"approved"}`))
	op.PublishRaw(t, "alice", []byte(`{"v":1,"type":"what"}`))
	select {
	case c := <-d.Closed():
		t.Fatalf("closure from a bad message: %+v", c)
	case <-time.After(200 * time.Millisecond):
	}
}

func nextClosure(tb testing.TB, d *device.Device) device.Closure {
	tb.Helper()
	select {
	case c := <-d.Closed():
		return c
	case <-time.After(10 * time.Second):
		tb.Fatal("no closure within 10 s")
		return device.Closure{}
	}
}
