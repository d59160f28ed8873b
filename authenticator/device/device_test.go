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

	"github.com/cibalab/cibalab/authenticator/device"
	"github.com/cibalab/cibalab/authenticator/devicedir"
	"github.com/cibalab/cibalab/authenticator/internal/fakeop"
	"github.com/cibalab/cibalab/shared/channel"

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

// enroll enrolls a new device of user on op and returns its credentials.
func enroll(tb testing.TB, op *fakeop.OP, user string) device.Credentials {
	tb.Helper()
	key, nk, err := devicedir.NewKeys()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := device.Enroll(ctx, device.EnrollConfig{NATSURL: op.URL, User: user, Key: key, NKey: nk}, users[user])
	if err != nil {
		tb.Fatalf("Enroll: %v", err)
	}
	return device.Credentials{DeviceID: e.DeviceID, User: e.User, Key: key, NKey: nk}
}

// connect enrolls a device of alice (unless cfg has credentials), connects
// it to op and closes it at the end of the test.
func connect(tb testing.TB, op *fakeop.OP, cfg device.Config) *device.Device {
	tb.Helper()
	cfg.NATSURL = op.URL
	if cfg.Credentials.Key == nil {
		cfg.Credentials = enroll(tb, op, "alice")
	}
	cfg.NATSOptions = append(cfg.NATSOptions, nats.ReconnectWait(10*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := device.Connect(ctx, cfg)
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

func TestEnroll(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	key, nk, _ := devicedir.NewKeys()
	tests := []struct{ user, password string }{
		{"alice", "wrong"},
		{"nobody", "wonderland"},
	}
	for _, tt := range tests {
		_, err := device.Enroll(context.Background(), device.EnrollConfig{NATSURL: op.URL, User: tt.user, Key: key, NKey: nk}, tt.password)
		if !errors.Is(err, device.ErrBadCredentials) {
			t.Errorf("%s/%s: err = %v, want ErrBadCredentials", tt.user, tt.password, err)
		}
	}
	if op.Enrollments() != 0 {
		t.Fatalf("Enrollments = %d", op.Enrollments())
	}
	cfg := device.EnrollConfig{NATSURL: op.URL, User: "alice", DeviceName: "phone", Key: key, NKey: nk}
	first, err := device.Enroll(context.Background(), cfg, "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	if first.User != "alice" || first.DecideSubject != channel.DeviceDecideSubject("master", first.DeviceID) || first.InboxPrefix != channel.DeviceInboxPrefix("master", first.DeviceID) {
		t.Fatalf("enrollment %+v", first)
	}
	again, err := device.Enroll(context.Background(), cfg, "wonderland")
	if err != nil || again.DeviceID != first.DeviceID {
		t.Fatalf("enrolling again = %+v, %v; want the same device", again, err)
	}
	op.Revoke(first.DeviceID)
	_, err = device.Enroll(context.Background(), cfg, "wonderland")
	var refused *device.RefusedError
	if !errors.As(err, &refused) || refused.Code != channel.ErrDeviceRevoked {
		t.Fatalf("enrolling a revoked device: %v", err)
	}
	if _, err := device.Enroll(context.Background(), device.EnrollConfig{NATSURL: op.URL, User: "alice"}, "x"); err == nil {
		t.Fatal("Enroll without keys")
	}
}

func TestConnectConfigErrors(t *testing.T) {
	key, nk, _ := devicedir.NewKeys()
	good := device.Credentials{DeviceID: "dev-1", User: "u", Key: key, NKey: nk}
	tests := []struct {
		name string
		cfg  device.Config
		want string
	}{
		{"no credentials", device.Config{}, "User is required"},
		{"bad device id", device.Config{Credentials: device.Credentials{DeviceID: "a.b", User: "u", Key: key, NKey: nk}}, "device id"},
		{"no keys", device.Config{Credentials: device.Credentials{DeviceID: "dev-1", User: "u"}}, "Key and NKey"},
		{"bad realm", device.Config{Realm: "a.b", Credentials: good}, "realm"},
		{"no server", device.Config{NATSURL: "nats://127.0.0.1:1", Credentials: good}, "connect to NATS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := device.Connect(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "device: ") {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestConnectNoOP(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	creds := enroll(t, op, "alice")
	_, err := device.Connect(context.Background(), device.Config{NATSURL: op.URL, Realm: "other", Credentials: creds})
	if err == nil || !strings.Contains(err.Error(), "no OP answers") {
		t.Fatalf("err = %v, want no OP answers", err)
	}
}

func TestConnectRevoked(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	creds := enroll(t, op, "alice")
	d := connect(t, op, device.Config{Credentials: creds})
	op.Revoke(creds.DeviceID)
	select {
	case _, ok := <-d.Requests():
		if ok {
			t.Fatal("a request after the revocation")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Requests still open after the revocation")
	}
	if !d.Refused() {
		t.Fatal("Refused() = false after the revocation")
	}
	if _, err := device.Connect(context.Background(), device.Config{NATSURL: op.URL, Credentials: creds}); !errors.Is(err, device.ErrDeviceRefused) {
		t.Fatalf("err = %v, want ErrDeviceRefused", err)
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
	if n := strings.Count(logs.String(), "level=WARN msg=device.message_dropped"); n != len(garbage)+3 {
		t.Fatalf("%d warnings, want %d; logs:\n%s", n, len(garbage)+3, logs.String())
	}
	if strings.Contains(logs.String(), good.AuthReqID) {
		t.Fatalf("logs hold a full auth_req_id or the password:\n%s", logs.String())
	}
	if err := d.Decide(context.Background(), good.AuthReqID, channel.VerdictApprove, "", []string{"swk"}); err != nil {
		t.Fatalf("Decide after garbage: %v", err)
	}
}

func TestDecideClaims(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { return now }
	op := fakeop.Start(t, fakeop.Config{Users: users, Now: clock})
	d := connect(t, op, device.Config{Now: clock})
	tests := []struct {
		verdict, acr string
		amr          []string
	}{
		{channel.VerdictApprove, "urn:cibalab:acr:pin", []string{"pin", "swk"}},
		{channel.VerdictDeny, "", []string{"swk"}},
	}
	var jtis []string
	for _, tt := range tests {
		r := op.NewRequest("alice", tt.verdict)
		if err := d.Decide(context.Background(), r.AuthReqID, tt.verdict, tt.acr, tt.amr); err != nil {
			t.Fatalf("Decide: %v", err)
		}
		got := op.WaitDecision(t)
		c := got.Claims
		if c.AuthReqID != r.AuthReqID || c.Verdict != tt.verdict || c.DeviceID != d.ID() || got.DeviceID != d.ID() || got.User != "alice" {
			t.Errorf("claims %+v for device %s user %s", c, got.DeviceID, got.User)
		}
		if c.ACR != tt.acr || strings.Join(c.AMR, " ") != strings.Join(tt.amr, " ") {
			t.Errorf("amr = %v, want %v", c.AMR, tt.amr)
		}
		if jti, err := base64.RawURLEncoding.DecodeString(c.ID); err != nil || len(jti) != 16 {
			t.Errorf("jti %q is not 128 bits of base64url", c.ID)
		}
		if !c.IssuedAt.Equal(now) || !c.ExpiresAt.Equal(now.Add(device.DefaultDecisionLifetime)) {
			t.Errorf("iat %v exp %v, want %v and DefaultDecisionLifetime later", c.IssuedAt, c.ExpiresAt, now)
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
	if err := d.Decide(context.Background(), decided.AuthReqID, channel.VerdictApprove, "", nil); err != nil {
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
			err := d.Decide(context.Background(), tt.id, tt.verdict, "", nil)
			var refused *device.RefusedError
			if !errors.As(err, &refused) || refused.Code != tt.code {
				t.Fatalf("err = %v, want refusal %s", err, tt.code)
			}
		})
	}
	for _, verdict := range []string{"", "maybe"} {
		if err := d.Decide(context.Background(), bobs.AuthReqID, verdict, "", nil); err == nil {
			t.Errorf("verdict %q accepted", verdict)
		}
	}
	if n := len(op.Decisions()); n != 1 {
		t.Fatalf("%d decisions recorded, want 1", n)
	}
}

// TestSurvivesNATSRestart: when the NATS server restarts, the device
// reconnects by itself, lists what is still pending (a request made while
// it was down included), and never delivers a request twice.
func TestSurvivesNATSRestart(t *testing.T) {
	op := fakeop.Start(t, fakeop.Config{Users: users})
	d := connect(t, op, device.Config{})
	before := op.NewRequest("alice", "before")
	op.Announce(t, before)
	if got := next(t, d); got.AuthReqID != before.AuthReqID {
		t.Fatalf("got %q", got.BindingMessage)
	}
	decided := op.NewRequest("alice", "decided")
	if err := d.Decide(context.Background(), decided.AuthReqID, channel.VerdictApprove, "", nil); err != nil {
		t.Fatal(err)
	}
	var during channel.AuthRequest
	op.RestartNATS(t, func() { during = op.NewRequest("alice", "while down") })
	if got := next(t, d); got.AuthReqID != during.AuthReqID {
		t.Fatalf("after the restart got %q, want the request made while NATS was down", got.BindingMessage)
	}
	if err := d.Decide(context.Background(), during.AuthReqID, channel.VerdictDeny, "", nil); err != nil {
		t.Fatalf("Decide after the restart: %v", err)
	}
	op.KickClients(t) // once more: "before" is still pending, but was delivered
	after := op.NewRequest("alice", "after")
	op.Announce(t, after)
	if got := next(t, d); got.AuthReqID != after.AuthReqID {
		t.Fatalf("got %q again, want only the new request", got.BindingMessage)
	}
	if n := len(op.Decisions()); n != 2 {
		t.Fatalf("%d decisions, want 2", n)
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
