package authreq_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/authreq"
)

// TestDeliveryClaim: a decided request's delivery is claimed by one owner
// at a time; another takes it only once the lease ran out or was
// released; an ended delivery is neither listed nor claimed again; an
// undecided or expired request is not delivered.
func TestDeliveryClaim(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.create(t)
	const lease = 10 * time.Second
	if _, err := h.l.ClaimDelivery(ctx, reqID, "a", lease); !errors.Is(err, authreq.ErrClaimed) {
		t.Fatalf("a pending request's delivery claimed: %v", err)
	}
	if _, _, err := h.l.Decide(ctx, "alice", reqID, authreq.Verdict{Approve: true, Device: "d1"}); err != nil {
		t.Fatal(err)
	}
	if reqs, _ := h.l.Undelivered(ctx); len(reqs) != 1 {
		t.Fatalf("undelivered %d, want the decided request", len(reqs))
	}
	if _, err := h.l.ClaimDelivery(ctx, reqID, "a", lease); err != nil {
		t.Fatal(err)
	}
	if _, err := h.l.ClaimDelivery(ctx, reqID, "b", lease); !errors.Is(err, authreq.ErrClaimed) {
		t.Fatalf("claimed by b while a's lease holds: %v", err)
	}
	if reqs, _ := h.l.Undelivered(ctx); len(reqs) != 0 {
		t.Fatal("a claimed delivery is listed as undelivered")
	}
	h.clock.Advance(lease / 2)
	if _, err := h.l.ClaimDelivery(ctx, reqID, "a", lease); err != nil {
		t.Fatalf("renewal by its owner: %v", err)
	}
	h.clock.Advance(lease / 2)
	if _, err := h.l.ClaimDelivery(ctx, reqID, "b", lease); !errors.Is(err, authreq.ErrClaimed) {
		t.Fatalf("claimed by b within the renewed lease: %v", err)
	}
	if err := h.l.ReleaseDelivery(ctx, reqID, "b"); !errors.Is(err, authreq.ErrClaimed) {
		t.Fatalf("released by another owner: %v", err)
	}
	if err := h.l.ReleaseDelivery(ctx, reqID, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.l.ClaimDelivery(ctx, reqID, "b", lease); err != nil {
		t.Fatalf("a released delivery cannot be taken: %v", err)
	}
	if err := h.l.EndDelivery(ctx, reqID, "a"); !errors.Is(err, authreq.ErrClaimed) {
		t.Fatalf("ended by its former owner: %v", err)
	}
	if err := h.l.EndDelivery(ctx, reqID, "b"); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(lease)
	if _, err := h.l.ClaimDelivery(ctx, reqID, "c", lease); !errors.Is(err, authreq.ErrClaimed) {
		t.Fatalf("an ended delivery claimed again: %v", err)
	}
	if reqs, _ := h.l.Undelivered(ctx); len(reqs) != 0 {
		t.Fatal("an ended delivery is listed as undelivered")
	}
}
