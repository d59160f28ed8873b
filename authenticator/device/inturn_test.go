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

// TestDecideInTurn: decisions chained with InTurn reach the OP in the
// order of the chain, whatever order their goroutines start in, each sent
// while the ones before still wait for their answers; a Decide that fails
// before sending still passes the turn on.
func TestDecideInTurn(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	d := connect(t, op, device.Config{})
	release := op.HoldDecisions(t)
	const n = 4
	reqs := make([]channel.AuthRequest, n)
	for i := range reqs {
		reqs[i] = op.NewRequest("alice", "x")
	}
	turns := make([]chan struct{}, n+2)
	for i := range turns {
		turns[i] = make(chan struct{})
	}
	close(turns[0])
	errs := make(chan error, n+1)
	// The chain: a bad call first (it sends nothing), then the n
	// requests; the goroutines start last first.
	for i := n - 1; i >= 0; i-- {
		go func() {
			errs <- d.Decide(context.Background(), reqs[i].AuthReqID, channel.VerdictApprove, "", nil,
				device.InTurn(turns[i+1], func() { close(turns[i+2]) }))
		}()
	}
	go func() {
		errs <- d.Decide(context.Background(), "", channel.VerdictApprove, "", nil, device.InTurn(turns[0], func() { close(turns[1]) }))
	}()
	// All sent while the OP answers none.
	<-turns[n+1]
	release()
	failed := 0
	for range n + 1 {
		if err := <-errs; err != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("%d decisions failed, want the bad one only", failed)
	}
	ds := op.Decisions()
	if len(ds) != n {
		t.Fatalf("%d decisions, want %d", len(ds), n)
	}
	for i, dec := range ds {
		if dec.Claims.AuthReqID != reqs[i].AuthReqID {
			t.Fatalf("decision %d is for request %q, want %q", i, dec.Claims.AuthReqID, reqs[i].AuthReqID)
		}
	}
}

// TestDecideInTurnWithoutAnswer: a decision sent in turn that the OP does
// not answer within RequestTimeout is retried, the reason given as "no
// answer yet", and the turn is passed on once it was sent.
func TestDecideInTurnWithoutAnswer(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	d := connect(t, op, device.Config{RequestTimeout: 100 * time.Millisecond})
	op.HoldDecisions(t)
	req := op.NewRequest("alice", "x")
	turn, next := make(chan struct{}), make(chan struct{})
	close(turn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reasons := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		done <- d.Decide(ctx, req.AuthReqID, channel.VerdictApprove, "", nil,
			device.InTurn(turn, func() { close(next) }),
			device.OnRetry(func(reason error, _ time.Time) {
				select {
				case reasons <- reason:
				default:
				}
			}))
	}()
	<-next
	if reason := <-reasons; reason == nil || reason.Error() != "no answer yet" {
		t.Fatalf("retry reason %v, want no answer yet", reason)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Decide after cancel: %v, want context.Canceled", err)
	}
}
