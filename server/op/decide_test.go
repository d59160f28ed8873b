package op

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/oauth"
)

// TestDecideResendIdempotent: a device that resends its decision (its
// first answer was lost) is answered as the first time, whatever happened
// to the request since; another device, or the other verdict, is still
// refused, and nothing changes (CIBA Core 1.0 §8).
func TestDecideResendIdempotent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id := f.start(t, nil)
	first := authreq.Verdict{Approve: true, AMR: []string{"swk"}, Device: "dev-a"}
	if err := f.p.Decide(ctx, "user", id, first); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	if err := f.p.Decide(ctx, "user", id, first); err != nil {
		t.Fatalf("resent approval: %v, want nil (the original outcome)", err)
	}
	for name, v := range map[string]authreq.Verdict{
		"other device":   {Approve: true, Device: "dev-b"},
		"other verdict":  {Approve: false, Device: "dev-a"},
		"unnamed device": {Approve: true},
	} {
		if err := f.p.Decide(ctx, "user", id, v); !errors.Is(err, authreq.ErrNotPending) {
			t.Errorf("%s: %v, want authreq.ErrNotPending", name, err)
		}
	}
	if err := f.p.Decide(ctx, "alice", id, first); !errors.Is(err, authreq.ErrNotYours) {
		t.Errorf("another user's request: %v, want authreq.ErrNotYours", err)
	}
	req, err := f.store.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if req.Status != store.StatusApproved || req.DecidedBy != "dev-a" || !req.AuthTime.Equal(f.clock.Now().Add(-time.Second)) {
		t.Fatalf("request changed by a resend: %+v", req)
	}
	// Tokens are issued once; a resend after redemption still answers as
	// the first time and issues nothing more.
	f.clock.Advance(5 * time.Second)
	if r := f.poll(t, "client1", id); r.status != 200 {
		t.Fatalf("poll: %d %s", r.status, r.raw)
	}
	if err := f.p.Decide(ctx, "user", id, first); err != nil {
		t.Fatalf("resent approval after redemption: %v", err)
	}
	f.clock.Advance(5 * time.Second)
	wantError(t, f.poll(t, "client1", id), 400, oauth.ErrInvalidGrant)

	// A denial resent is a denial.
	id2 := f.start(t, nil)
	deny := authreq.Verdict{Device: "dev-a"}
	if err := f.p.Decide(ctx, "user", id2, deny); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Decide(ctx, "user", id2, deny); err != nil {
		t.Fatalf("resent denial: %v", err)
	}
	f.clock.Advance(5 * time.Second)
	wantError(t, f.poll(t, "client1", id2), 400, oauth.ErrAccessDenied)
}

// TestDecideNotAfter: a decision applied after its NotAfter would
// contradict a device that already reported it as failed: it is refused
// and changes nothing.
func TestDecideNotAfter(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	id := f.start(t, nil)
	v := authreq.Verdict{Approve: true, Device: "dev-a", NotAfter: f.clock.Now().Add(time.Second)}
	f.clock.Advance(2 * time.Second)
	if err := f.p.Decide(ctx, "user", id, v); !errors.Is(err, authreq.ErrLapsed) {
		t.Fatalf("late decision: %v, want authreq.ErrLapsed", err)
	}
	f.clock.Advance(5 * time.Second)
	wantError(t, f.poll(t, "client1", id), 400, oauth.ErrAuthorizationPending)
	v.NotAfter = f.clock.Now().Add(time.Second)
	if err := f.p.Decide(ctx, "user", id, v); err != nil {
		t.Fatalf("timely decision: %v", err)
	}
}
