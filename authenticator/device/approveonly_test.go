package device_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cibalab/cibalab/authenticator/device"
	"github.com/cibalab/cibalab/authenticator/internal/fakeop"
	"github.com/cibalab/cibalab/shared/channel"
)

// TestApproveOnly: the approved authorization_details indexes are signed
// into the decision; without the option none are named (every entry); the
// option on a deny, or with no index, is refused before anything is sent.
func TestApproveOnly(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { return now }
	op := fakeop.Start(t, fakeop.Config{Users: users, Now: clock})
	d := connect(t, op, device.Config{Now: clock})
	ctx := context.Background()

	r := op.NewRequest("alice", "two entries")
	if err := d.Decide(ctx, r.AuthReqID, channel.VerdictApprove, "", []string{"swk"}, device.ApproveOnly([]int{1})); err != nil {
		t.Fatal(err)
	}
	if c := op.WaitDecision(t).Claims; !slices.Equal(c.ApprovedDetails, []int{1}) {
		t.Fatalf("approved_details %v, want [1]", c.ApprovedDetails)
	}
	all := op.NewRequest("alice", "all")
	if err := d.Decide(ctx, all.AuthReqID, channel.VerdictApprove, "", []string{"swk"}); err != nil {
		t.Fatal(err)
	}
	if c := op.WaitDecision(t).Claims; c.ApprovedDetails != nil {
		t.Fatalf("approved_details %v without ApproveOnly", c.ApprovedDetails)
	}
	bad := op.NewRequest("alice", "bad")
	for name, opt := range map[string]device.DecideOption{"deny": device.ApproveOnly([]int{0}), "none": device.ApproveOnly([]int{})} {
		verdict := channel.VerdictApprove
		if name == "deny" {
			verdict = channel.VerdictDeny
		}
		if err := d.Decide(ctx, bad.AuthReqID, verdict, "", nil, opt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n := len(op.Decisions()); n != 2 {
		t.Fatalf("%d decisions sent, want 2", n)
	}
}
