package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/authenticator/devicedir"
	"github.com/cibalab/cibalab/shared/channel"
)

// TestTypeAheadNeverAnswersTheNextCard: on a terminal, with request A on
// screen and B queued, "yy" typed quickly approves A only; the second key,
// read while A was still on screen, does not answer B (CIBA Core 1.0 §8:
// the user decides after seeing the request). The OP holds A's decision
// until both keys were read, so B's card comes after the second key.
func TestTypeAheadNeverAnswersTheNextCard(t *testing.T) {
	op := startOP(t)
	stdin, w := pipe(t)
	p := startTTY(t, true, stdin, envFor(t, op), "--plain")
	p.ready(t, "user")
	a, b := op.NewRequest("user", "first"), op.NewRequest("user", "second")
	op.Announce(t, a)
	op.Announce(t, b)
	p.stdout.waitFor(t, "└ "+keyPrompt+"\n", 1)
	release := op.HoldDecisions(t)
	// A pipe write returns once both keys were read: the first answered A,
	// the second waits in the reader, as on a real terminal.
	write(t, w, "yy")
	release()
	if d := op.WaitDecision(t); d.Claims.AuthReqID != a.AuthReqID || d.Claims.Verdict != channel.VerdictApprove {
		t.Fatalf("first decision %+v, want A approved", d.Claims)
	}
	p.stdout.waitFor(t, "└ "+keyPrompt+"\n", 2)
	write(t, w, "n")
	if d := op.WaitDecision(t); d.Claims.AuthReqID != b.AuthReqID || d.Claims.Verdict != channel.VerdictDeny {
		t.Fatalf("second decision %+v, want B denied by the key typed after its card\n%s", d.Claims, p.stdout)
	}
}

// TestAskIgnoresKeysReadBeforeTheCard: ask drops a key read before its
// card was shown, and takes the next one; Ctrl-C interrupts whenever read.
func TestAskIgnoresKeysReadBeforeTheCard(t *testing.T) {
	shown := time.Now()
	before, after := shown.Add(-time.Millisecond), shown.Add(time.Millisecond)
	tests := []struct {
		name    string
		keys    []key
		verdict string
		code    int
	}{
		{"stale approve then deny", []key{{"y", before}, {"n", after}}, channel.VerdictDeny, 0},
		{"stale skip then approve", []key{{"s", before}, {"a", after}}, channel.VerdictApprove, 0},
		{"key read as the card was shown", []key{{"y", shown}}, channel.VerdictApprove, 0},
		{"stale Ctrl-C still interrupts", []key{{keyInterrupt, before}, {"y", after}}, "", ExitInterrupted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := make(chan key, len(tt.keys))
			for _, k := range tt.keys {
				in <- k
			}
			var out strings.Builder
			r := &runner{tty: true, dev: &devicedir.Device{}, now: time.Now, input: in,
				out: &printer{w: &out, stderr: &out}}
			req := channel.AuthRequest{AuthReqID: "id", ExpiresAt: shown.Add(time.Minute).Unix()}
			verdict, _, _, res := r.ask(context.Background(), req, shown, new([]int))
			if verdict != tt.verdict || res.code != tt.code {
				t.Fatalf("ask = %q, %+v; want %q, exit %d", verdict, res, tt.verdict, tt.code)
			}
		})
	}
}

// TestDrainKeys: keys typed before a card are discarded, Ctrl-C among
// them is reported.
func TestDrainKeys(t *testing.T) {
	for _, tt := range []struct {
		keys string
		intr bool
	}{{"yy", false}, {"y\x03y", true}, {"", false}} {
		in := make(chan key, len(tt.keys))
		for _, c := range tt.keys {
			in <- key{s: string(c)}
		}
		r := &runner{input: in}
		if got := r.drainKeys(); got != tt.intr || (!tt.intr && len(in) != 0) {
			t.Errorf("drainKeys(%q) = %v with %d left, want %v", tt.keys, got, len(in), tt.intr)
		}
	}
}
