package cli

import (
	"strings"
	"testing"

	"github.com/cibalab/cibalab/shared/channel"
)

// TestAutoDecidesConcurrently: with --auto, the decisions of several
// requests are sent without waiting for each other's answer, each card is
// shown once, and each request is decided once.
func TestAutoDecidesConcurrently(t *testing.T) {
	op := startOP(t)
	p := start(t, strings.NewReader(""), envFor(t, op), "--auto", "approve", "--json")
	p.ready(t, "user")
	release := op.HoldDecisions(t)
	const n = 3
	for i := range n {
		op.Announce(t, op.NewRequest("user", "Order "+string(rune('1'+i))))
	}
	// The OP answers none while held: all n are sent all the same.
	p.stdout.waitFor(t, `"type":"decision_sent"`, n)
	release()
	p.stdout.waitFor(t, `"type":"decision_accepted"`, n)
	out := p.stdout.String()
	if got := strings.Count(out, `"type":"request"`); got != n {
		t.Fatalf("%d cards shown, want %d:\n%s", got, n, out)
	}
	seen := map[string]bool{}
	for _, d := range op.Decisions() {
		if seen[d.Claims.AuthReqID] {
			t.Fatalf("request decided twice: %+v", op.Decisions())
		}
		seen[d.Claims.AuthReqID] = true
	}
	if len(seen) != n {
		t.Fatalf("%d requests decided, want %d", len(seen), n)
	}
}

// TestAutoDelayClosed: a request closed while its delayed decision waits
// is not decided, and the others waiting beside it are.
func TestAutoDelayClosed(t *testing.T) {
	op := startOP(t)
	p := start(t, strings.NewReader(""), envFor(t, op), "--auto", "deny", "--delay", "300ms", "--json")
	p.ready(t, "user")
	a, b := op.NewRequest("user", "A"), op.NewRequest("user", "B")
	op.Announce(t, a)
	op.Announce(t, b)
	p.stdout.waitFor(t, `"type":"request"`, 2)
	op.CloseRequest(t, a.AuthReqID, channel.ClosedApproved)
	p.stdout.waitFor(t, `"type":"request_closed"`, 1)
	p.stdout.waitFor(t, `"type":"decision_accepted"`, 1)
	ds := op.Decisions()
	if len(ds) != 1 || ds[0].Claims.AuthReqID != b.AuthReqID || ds[0].Claims.Verdict != channel.VerdictDeny {
		t.Fatalf("decisions %+v, want B denied only", ds)
	}
	if strings.Count(p.stdout.String(), `"type":"decision_sent"`) != 1 {
		t.Fatalf("a decision was sent for the closed request:\n%s", p.stdout)
	}
}
