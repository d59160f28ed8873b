package cli

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/authenticator/internal/phone"
	"github.com/cibalab/cibalab/shared/channel"
)

// TestDecidePhone: a decision taken on the phone carries acr and amr
// "pin" only when the PIN was checked for it, and the phone is told in
// words what the OP answered.
func TestDecidePhone(t *testing.T) {
	op := startOP(t)
	dir := enrolled(t, op, "2468")
	getenv := func(k string) string { return only(op, dir)[k] }
	o, _, err := parseFlags(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: getenv, now: time.Now,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	dev, d, f := openDevice(ctx, o, e)
	if f != nil {
		t.Fatal(f.msg)
	}
	t.Cleanup(func() { d.Close() })
	r := &runner{d: d, dev: dev, o: o, e: e, now: time.Now}
	tests := []struct {
		name             string
		verdict          string
		pin              bool
		refuse           string
		acr, amr, answer string
		applied          bool
	}{
		{"approved with the PIN", channel.VerdictApprove, true, "", acrPIN, "pin swk", "the OP accepted", true},
		{"approved without the PIN", channel.VerdictApprove, false, "", "", "swk", "the OP accepted", true},
		{"denied", channel.VerdictDeny, true, "", "", "swk", "the OP accepted", true},
		{"too late", channel.VerdictApprove, false, channel.ErrNotPending, "", "swk", "too late: already decided, redeemed or expired", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.refuse != "" { // the last case: refusals stay on
				op.RefuseDecisions(tt.refuse, "")
			}
			req := op.NewRequest("user", tt.name)
			op.Add(req)
			out := r.decidePhone(ctx, phone.Decision{Request: req, Verdict: tt.verdict, PINChecked: tt.pin})
			if out.Applied != tt.applied || out.Text != tt.answer {
				t.Fatalf("outcome %+v, want applied %v, %q", out, tt.applied, tt.answer)
			}
			if !tt.applied {
				return
			}
			got := op.WaitDecision(t).Claims
			if got.AuthReqID != req.AuthReqID || got.Verdict != tt.verdict || got.ACR != tt.acr || strings.Join(got.AMR, " ") != tt.amr {
				t.Fatalf("decision %+v, want %s with acr %q amr %q", got, tt.verdict, tt.acr, tt.amr)
			}
		})
	}
}

// TestScreenColours: the phone is drawn in colour when the environment
// allows it, and without a single colour or style code under NO_COLOR.
func TestScreenColours(t *testing.T) {
	for _, tt := range []struct {
		env    map[string]string
		colour bool
	}{
		{map[string]string{"TERM": "xterm-256color", "CLICOLOR_FORCE": "1"}, true},
		{map[string]string{"TERM": "xterm-256color", "CLICOLOR_FORCE": "1", "NO_COLOR": "1"}, false},
	} {
		var b strings.Builder
		r := screenRenderer(&b, func(k string) string { return tt.env[k] })
		m := phone.New(phone.Config{Device: "d", User: "u", Renderer: r, NoTick: true})
		m.Update(phone.ConnMsg{Connected: false})
		if got := strings.Contains(m.View(), "\x1b["); got != tt.colour {
			t.Errorf("env %v: escape codes drawn %v, want %v:\n%q", tt.env, got, tt.colour, m.View())
		}
	}
}
