package bus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

	"cibalab/server/op"
	"cibalab/server/state"
	"cibalab/shared/channel"
	"cibalab/shared/pki"
)

type users struct{}

func (users) Authenticate(id, pw string) (*state.User, error) {
	if (id == "user" || id == "alice") && pw == "password" {
		return &state.User{ID: id}, nil
	}
	return nil, state.ErrBadCredentials
}

type decision struct {
	user, id string
	v        op.Verdict
}

// decider records decisions; requests "pending-<user>" exist and are pending once.
type decider struct {
	mu   sync.Mutex
	got  []decision
	done map[string]bool
}

func (d *decider) Decide(_ context.Context, user, id string, v op.Verdict) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id != "pending-"+user {
		return op.ErrNotYourRequest
	}
	if d.done[id] {
		return op.ErrNotPending
	}
	d.done[id] = true
	d.got = append(d.got, decision{user, id, v})
	return nil
}

func (d *decider) Pending(_ context.Context, user string) ([]channel.AuthRequest, error) {
	return []channel.AuthRequest{{Version: 1, AuthReqID: "pending-" + user, User: user}}, nil
}

type harness struct {
	nc  *nats.Conn
	dec *decider
	r   *Responder
	url string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ns, err := StartServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := ns.ConnectOP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	r, err := NewResponder(Config{Conn: nc, Realm: "master", Users: users{}})
	if err != nil {
		t.Fatal(err)
	}
	dec := &decider{done: map[string]bool{}}
	if err := r.Serve(dec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	// Devices use their own connection, as in real life.
	dev, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dev.Close)
	return &harness{nc: dev, dec: dec, r: r, url: ns.ClientURL()}
}

func (h *harness) request(t *testing.T, subject string, in, out any) {
	t.Helper()
	var data []byte
	switch v := in.(type) {
	case []byte:
		data = v
	default:
		var err error
		if data, err = json.Marshal(in); err != nil {
			t.Fatal(err)
		}
	}
	msg, err := h.nc.Request(subject, data, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		t.Fatalf("reply is not JSON: %s", msg.Data)
	}
}

type device struct {
	key *ecdsa.PrivateKey
	sid string
}

func (h *harness) signIn(t *testing.T, user, password string) (*device, channel.SignInResponse) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, err := pki.PublicJWK(key.Public(), "dev", "ES256")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(jwk)
	var resp channel.SignInResponse
	h.request(t, channel.SignInSubject("master"), channel.SignInRequest{Version: 1, User: user, Password: password, DeviceKey: raw}, &resp)
	return &device{key: key, sid: resp.SessionID}, resp
}

func (d *device) sign(t *testing.T, c channel.DecisionClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, c).SignedString(d.key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func claims(sid, id, verdict, jti string, iat time.Time) channel.DecisionClaims {
	return channel.DecisionClaims{AuthReqID: id, Verdict: verdict, SessionID: sid, AMR: []string{"pwd"},
		RegisteredClaims: jwt.RegisteredClaims{ID: jti, IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(iat.Add(time.Minute))}}
}

func (h *harness) decide(t *testing.T, sid, token string) channel.DecisionResult {
	t.Helper()
	var res channel.DecisionResult
	h.request(t, channel.DecideSubject("master"), channel.Decision{Version: 1, SessionID: sid, JWT: token}, &res)
	return res
}

func TestSignIn(t *testing.T) {
	h := newHarness(t)
	if _, resp := h.signIn(t, "user", "wrong"); resp.Error != channel.ErrBadCredentials || resp.SessionID != "" {
		t.Fatalf("wrong password: %+v", resp)
	}
	if _, resp := h.signIn(t, "nobody", "password"); resp.Error != channel.ErrBadCredentials {
		t.Fatalf("unknown user: %+v", resp)
	}
	_, resp := h.signIn(t, "user", "password")
	if resp.Error != "" || len(resp.SessionID) < 40 || resp.RequestsSubject != channel.UserRequestsSubject("master", "user") {
		t.Fatalf("sign-in: %+v", resp)
	}
	var bad channel.SignInResponse
	h.request(t, channel.SignInSubject("master"), []byte("garbage"), &bad)
	if bad.Error != channel.ErrBadMessage {
		t.Fatalf("garbage: %+v", bad)
	}
	h.request(t, channel.SignInSubject("master"), channel.SignInRequest{Version: 2, User: "user", Password: "password"}, &bad)
	if bad.Error != channel.ErrUnsupported {
		t.Fatalf("version 2: %+v", bad)
	}
	h.request(t, channel.SignInSubject("master"), channel.SignInRequest{Version: 1, User: "user", Password: "password", DeviceKey: []byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}`)}, &bad)
	if bad.Error != channel.ErrBadMessage {
		t.Fatalf("bad key: %+v", bad)
	}
}

// TestDecisions: only a signed-in device of the request's user decides,
// once, with a valid signature.
func TestDecisions(t *testing.T) {
	h := newHarness(t)
	dev, _ := h.signIn(t, "user", "password")
	alice, _ := h.signIn(t, "alice", "password")
	now := time.Now()

	tests := []struct {
		name string
		sid  string
		tok  func() string
		want string
	}{
		{"anonymous: no session", "made-up", func() string { return dev.sign(t, claims("made-up", "pending-user", "approve", "j0", now)) }, channel.ErrUnknownSession},
		{"signed by another key", dev.sid, func() string { return alice.sign(t, claims(dev.sid, "pending-user", "approve", "j1", now)) }, channel.ErrBadSignature},
		{"signed for another session", dev.sid, func() string { return dev.sign(t, claims(alice.sid, "pending-user", "approve", "j2", now)) }, channel.ErrBadSignature},
		{"alg none", dev.sid, func() string {
			tok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(dev.sid, "pending-user", "approve", "j3", now)).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return tok
		}, channel.ErrBadSignature},
		{"stale iat", dev.sid, func() string {
			return dev.sign(t, claims(dev.sid, "pending-user", "approve", "j4", now.Add(-10*time.Minute)))
		}, channel.ErrBadMessage},
		{"bad verdict", dev.sid, func() string { return dev.sign(t, claims(dev.sid, "pending-user", "maybe", "j5", now)) }, channel.ErrBadMessage},
		{"no jti", dev.sid, func() string { return dev.sign(t, claims(dev.sid, "pending-user", "approve", "", now)) }, channel.ErrBadMessage},
		{"another user's request", alice.sid, func() string { return alice.sign(t, claims(alice.sid, "pending-user", "approve", "j6", now)) }, channel.ErrNotYourRequest},
		{"not JWT at all", dev.sid, func() string { return "garbage" }, channel.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := h.decide(t, tt.sid, tt.tok()); res.Accepted || res.Error != tt.want {
				t.Fatalf("got %+v, want %s", res, tt.want)
			}
		})
	}
	if len(h.dec.got) != 0 {
		t.Fatalf("refused decisions reached the OP: %+v", h.dec.got)
	}

	tok := dev.sign(t, claims(dev.sid, "pending-user", "approve", "good", now))
	if res := h.decide(t, dev.sid, tok); !res.Accepted {
		t.Fatalf("valid decision refused: %+v", res)
	}
	if len(h.dec.got) != 1 || h.dec.got[0].user != "user" || !h.dec.got[0].v.Approve || h.dec.got[0].v.AMR[0] != "pwd" {
		t.Fatalf("decisions %+v", h.dec.got)
	}
	if res := h.decide(t, dev.sid, tok); res.Error != channel.ErrReplay {
		t.Fatalf("replay: %+v", res)
	}
	again := dev.sign(t, claims(dev.sid, "pending-user", "deny", "other", now))
	if res := h.decide(t, dev.sid, again); res.Error != channel.ErrNotPending {
		t.Fatalf("second decision: %+v", res)
	}
	var garbage channel.DecisionResult
	h.request(t, channel.DecideSubject("master"), []byte{0xff, 0x00}, &garbage)
	if garbage.Error != channel.ErrBadMessage {
		t.Fatalf("garbage: %+v", garbage)
	}
	if len(h.dec.got) != 1 {
		t.Fatalf("decisions %+v", h.dec.got)
	}
}

func TestPendingNeedsSession(t *testing.T) {
	h := newHarness(t)
	var resp channel.PendingResponse
	h.request(t, channel.PendingSubject("master"), channel.PendingRequest{Version: 1, SessionID: "nope"}, &resp)
	if resp.Error != channel.ErrUnknownSession || len(resp.Requests) != 0 {
		t.Fatalf("without a session: %+v", resp)
	}
	dev, _ := h.signIn(t, "alice", "password")
	resp = channel.PendingResponse{}
	h.request(t, channel.PendingSubject("master"), channel.PendingRequest{Version: 1, SessionID: dev.sid}, &resp)
	if resp.Error != "" || len(resp.Requests) != 1 || resp.Requests[0].User != "alice" {
		t.Fatalf("pending: %+v", resp)
	}
}

// TestAnnounceReachesOnlyThatUser: a request is published on its user's
// subject only.
func TestAnnounceReachesOnlyThatUser(t *testing.T) {
	h := newHarness(t)
	userSub, _ := h.nc.SubscribeSync(channel.UserRequestsSubject("master", "user"))
	aliceSub, _ := h.nc.SubscribeSync(channel.UserRequestsSubject("master", "alice"))
	h.nc.Flush()
	if err := h.r.Announce(context.Background(), channel.AuthRequest{Version: 1, AuthReqID: "x", User: "user"}); err != nil {
		t.Fatal(err)
	}
	msg, err := userSub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got channel.AuthRequest
	json.Unmarshal(msg.Data, &got)
	if got.AuthReqID != "x" {
		t.Fatalf("got %+v", got)
	}
	if _, err := aliceSub.NextMsg(100 * time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Fatalf("alice received user's request: %v", err)
	}
}

// TestEmbeddedPermissions: an anonymous connection can neither read
// sign-in messages nor publish requests or replies in the OP's name.
func TestEmbeddedPermissions(t *testing.T) {
	h := newHarness(t)
	errs := make(chan error, 10)
	spy, err := nats.Connect(h.url, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(spy.Close)

	// Reading sign-ins (and their passwords) is refused.
	spied, _ := spy.SubscribeSync(channel.SignInSubject("master"))
	spy.Flush()
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("subscribe to sign-in: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscribing to the sign-in subject was not refused")
	}
	h.signIn(t, "user", "password")
	if _, err := spied.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatal("an anonymous connection read a sign-in message")
	}

	// Publishing a fake request to a user's devices is refused.
	devSub, _ := h.nc.SubscribeSync(channel.UserRequestsSubject("master", "user"))
	h.nc.Flush()
	spy.Publish(channel.UserRequestsSubject("master", "user"), []byte(`{"v":1,"auth_req_id":"fake"}`))
	spy.Flush()
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("publish: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publishing a fake request was not refused")
	}
	if _, err := devSub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatal("a device received a request published by an anonymous connection")
	}
}
