package device_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"cibalab/authenticator/device"
	"cibalab/authenticator/internal/fakeop"
	"cibalab/shared/channel"

	"github.com/nats-io/nats.go"
)

// syncBuffer is a bytes.Buffer safe for a logger writing from another
// goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var users = map[string]string{"alice": "wonderland", "bob": "builder"}

// connect signs alice in on op and closes the device at the end of the test.
func connect(tb testing.TB, op *fakeop.OP, cfg device.Config) *device.Device {
	tb.Helper()
	cfg.NATSURL = op.URL
	if cfg.User == "" {
		cfg.User = "alice"
	}
	cfg.NATSOptions = append(cfg.NATSOptions, nats.ReconnectWait(10*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := device.Connect(ctx, cfg, users[cfg.User])
	if err != nil {
		tb.Fatalf("Connect: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// next returns the next delivered request, failing after 10 s.
func next(tb testing.TB, d *device.Device) channel.AuthRequest {
	tb.Helper()
	select {
	case r, ok := <-d.Requests():
		if !ok {
			tb.Fatal("Requests closed")
		}
		return r
	case <-time.After(10 * time.Second):
		tb.Fatal("no request within 10 s")
	}
	return channel.AuthRequest{}
}

func TestConnectBadCredentials(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	tests := []struct{ user, password string }{
		{"alice", "wrong"},
		{"nobody", "wonderland"},
	}
	for _, tt := range tests {
		d, err := device.Connect(context.Background(), device.Config{NATSURL: op.URL, User: tt.user}, tt.password)
		if !errors.Is(err, device.ErrBadCredentials) {
			if d != nil {
				d.Close()
			}
			t.Errorf("%s/%s: err = %v, want ErrBadCredentials", tt.user, tt.password, err)
		}
	}
	if op.SignIns() != 0 {
		t.Fatalf("SignIns = %d", op.SignIns())
	}
}

func TestConnectConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  device.Config
		want string
	}{
		{"no user", device.Config{}, "User is required"},
		{"bad realm", device.Config{User: "u", Realm: "a.b"}, "realm"},
		{"no server", device.Config{User: "u", NATSURL: "nats://127.0.0.1:1"}, "connect to NATS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := device.Connect(context.Background(), tt.cfg, "pw")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "device: ") {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestConnectNoOP(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users, Realm: "other"})
	_, err := device.Connect(context.Background(), device.Config{NATSURL: op.URL, User: "alice"}, "wonderland")
	if err == nil || !strings.Contains(err.Error(), "no OP answers") {
		t.Fatalf("err = %v, want no OP answers", err)
	}
}

func TestRequestsPendingFirstThenAnnouncedOnce(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	p1 := op.NewRequest("alice", "first")
	p2 := op.NewRequest("alice", "second")
	op.NewRequest("bob", "not alice's")
	d := connect(t, op, device.Config{})

	a1 := op.NewRequest("alice", "announced")
	op.Announce(t, p1) // already delivered as pending: dropped
	op.Announce(t, a1)
	op.Announce(t, a1) // twice: dropped
	a2 := op.NewRequest("alice", "last")
	op.Announce(t, a2)

	for i, want := range []channel.AuthRequest{p1, p2, a1, a2} {
		if got := next(t, d); got.AuthReqID != want.AuthReqID || got.BindingMessage != want.BindingMessage {
			t.Fatalf("request %d = %q, want %q", i, got.BindingMessage, want.BindingMessage)
		}
	}
}

func TestGarbageIsDropped(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	var logs syncBuffer
	d := connect(t, op, device.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	foreign := op.NewRequest("bob", "bob's")
	wrongVersion := op.NewRequest("alice", "v2")
	wrongVersion.Version = 2
	expired := op.NewRequest("alice", "old")
	expired.ExpiresAt = time.Now().Add(-time.Minute).Unix()
	garbage := [][]byte{[]byte("not json"), []byte(`{"v":1}`), []byte("null"), {0xff, 0xfe}}
	for _, g := range garbage {
		op.PublishRaw(t, "alice", g)
	}
	for _, r := range []channel.AuthRequest{foreign, wrongVersion, expired} {
		data, _ := json.Marshal(r)
		op.PublishRaw(t, "alice", data) // bob's request too, on alice's subject
	}
	good := op.NewRequest("alice", "good")
	op.Announce(t, good)

	if got := next(t, d); got.AuthReqID != good.AuthReqID {
		t.Fatalf("got %q, want the good request", got.BindingMessage)
	}
	if n := strings.Count(logs.String(), `level=WARN msg="message dropped"`); n != len(garbage)+3 {
		t.Fatalf("%d warnings, want %d; logs:\n%s", n, len(garbage)+3, logs.String())
	}
	if strings.Contains(logs.String(), good.AuthReqID) || strings.Contains(logs.String(), "wonderland") {
		t.Fatalf("logs hold a full auth_req_id or the password:\n%s", logs.String())
	}
	if err := d.Decide(context.Background(), good.AuthReqID, channel.VerdictApprove, []string{"pwd"}); err != nil {
		t.Fatalf("Decide after garbage: %v", err)
	}
}

func TestDecideClaims(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { return now }
	op := fakeop.Start(t, fakeop.Config{Users: users, Now: clock})
	d := connect(t, op, device.Config{Now: clock})
	tests := []struct {
		verdict string
		amr     []string
	}{
		{channel.VerdictApprove, []string{"pwd"}},
		{channel.VerdictDeny, []string{"swk"}},
	}
	var jtis []string
	for _, tt := range tests {
		r := op.NewRequest("alice", tt.verdict)
		if err := d.Decide(context.Background(), r.AuthReqID, tt.verdict, tt.amr); err != nil {
			t.Fatalf("Decide: %v", err)
		}
		got := op.WaitDecision(t)
		c := got.Claims
		if c.AuthReqID != r.AuthReqID || c.Verdict != tt.verdict || c.SessionID != got.SessionID || got.User != "alice" {
			t.Errorf("claims %+v for session %s user %s", c, got.SessionID, got.User)
		}
		if len(c.AMR) != 1 || c.AMR[0] != tt.amr[0] {
			t.Errorf("amr = %v, want %v", c.AMR, tt.amr)
		}
		if jti, err := base64.RawURLEncoding.DecodeString(c.ID); err != nil || len(jti) != 16 {
			t.Errorf("jti %q is not 128 bits of base64url", c.ID)
		}
		if !c.IssuedAt.Equal(now) || !c.ExpiresAt.Equal(now.Add(60*time.Second)) {
			t.Errorf("iat %v exp %v, want %v and 60 s later", c.IssuedAt, c.ExpiresAt, now)
		}
		if got.KeyID != d.KeyID() {
			t.Errorf("kid %q, want %q", got.KeyID, d.KeyID())
		}
		jtis = append(jtis, c.ID)
	}
	if jtis[0] == jtis[1] {
		t.Fatal("two decisions share a jti")
	}
}

func TestDecideRefused(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	d := connect(t, op, device.Config{})
	decided := op.NewRequest("alice", "x")
	if err := d.Decide(context.Background(), decided.AuthReqID, channel.VerdictApprove, nil); err != nil {
		t.Fatal(err)
	}
	bobs := op.NewRequest("bob", "y")
	tests := []struct {
		name, id, verdict, code string
	}{
		{"decided twice", decided.AuthReqID, channel.VerdictDeny, channel.ErrNotPending},
		{"another user's request", bobs.AuthReqID, channel.VerdictApprove, channel.ErrNotYourRequest},
		{"unknown request", "nope", channel.VerdictApprove, channel.ErrNotYourRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.Decide(context.Background(), tt.id, tt.verdict, nil)
			var refused *device.RefusedError
			if !errors.As(err, &refused) || refused.Code != tt.code {
				t.Fatalf("err = %v, want refusal %s", err, tt.code)
			}
		})
	}
	for _, verdict := range []string{"", "maybe"} {
		if err := d.Decide(context.Background(), bobs.AuthReqID, verdict, nil); err == nil {
			t.Errorf("verdict %q accepted", verdict)
		}
	}
	if n := len(op.Decisions()); n != 1 {
		t.Fatalf("%d decisions recorded, want 1", n)
	}
}

func TestSignsInAgainOnUnknownSession(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	d := connect(t, op, device.Config{})
	op.ForgetSessions()
	r := op.NewRequest("alice", "after restart")
	if err := d.Decide(context.Background(), r.AuthReqID, channel.VerdictApprove, nil); err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if n := op.SignIns(); n != 2 {
		t.Fatalf("SignIns = %d, want 2", n)
	}
	op.ForgetSessions()
	if _, err := d.Pending(context.Background()); err != nil {
		t.Fatalf("Pending: %v", err)
	}
	if n := op.SignIns(); n != 3 {
		t.Fatalf("SignIns = %d, want 3", n)
	}
}

func TestReconnectFetchesPending(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	d := connect(t, op, device.Config{})
	missed := op.NewRequest("alice", "while away") // never announced
	op.KickClients(t)
	if got := next(t, d); got.AuthReqID != missed.AuthReqID {
		t.Fatalf("got %q, want the request listed after the reconnect", got.BindingMessage)
	}
}

func TestCloseClosesRequests(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	d := connect(t, op, device.Config{})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-d.Requests():
		if ok {
			t.Fatal("a request after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Requests not closed")
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
