package bus

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/pki"
)

type decision struct {
	user, id string
	v        authreq.Verdict
}

// decider records decisions; requests "pending-<user>" and
// "pending-<user>-<anything>" exist and are pending once.
type decider struct {
	mu   sync.Mutex
	got  []decision
	done map[string]bool
	// sink is told each accepted decision, as the OP's lifecycle tells
	// the Responder (op.Config.Transitions).
	sink authreq.Sink
	// many, when set, is how many pending requests Pending lists (each
	// with a long binding message) instead of "pending-<user>" alone.
	many int
}

func (d *decider) Decide(_ context.Context, user, id string, v authreq.Verdict) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id != "pending-"+user && !strings.HasPrefix(id, "pending-"+user+"-") {
		return authreq.ErrNotYours
	}
	if d.done[id] {
		return authreq.ErrNotPending
	}
	d.done[id] = true
	d.got = append(d.got, decision{user, id, v})
	if d.sink != nil {
		ev, st := authreq.EventDenied, store.StatusDenied
		if v.Approve {
			ev, st = authreq.EventApproved, store.StatusApproved
		}
		d.sink.Transition(context.Background(), authreq.Event{Type: ev, Time: time.Now(),
			Request: &store.Request{ID: id, ClientID: "c", User: user, Status: st, DecidedBy: v.Device}})
	}
	return nil
}

func (d *decider) Pending(_ context.Context, user string) ([]channel.AuthRequest, error) {
	if d.many > 0 {
		out := make([]channel.AuthRequest, d.many)
		for i := range out {
			out[i] = channel.AuthRequest{Version: 1, AuthReqID: fmt.Sprintf("pending-%s-%05d", user, i), User: user,
				BindingMessage: strings.Repeat("m", 200)}
		}
		return out, nil
	}
	return []channel.AuthRequest{{Version: 1, AuthReqID: "pending-" + user, User: user}}, nil
}

func (d *decider) decisions() []decision {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]decision(nil), d.got...)
}

// syncBuffer is a log destination safe for concurrent writers.
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

type harness struct {
	ns   *Embedded
	op   *nats.Conn
	dir  *registry.Dir
	dec  *decider
	r    *Responder
	url  string
	logs *syncBuffer
}

// newHarness runs the embedded server, a state directory with users
// "user", "alice" and "bob" (password "password") and a Responder whose
// registry watcher is slow, so tests sync explicitly.
func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith is newHarness with the Responder's Config adjusted by
// configure (when not nil).
func newHarnessWith(t testing.TB, configure func(*Config)) *harness {
	t.Helper()
	return newHarnessServer(t, configure)
}

// newHarnessServer is newHarnessWith with the embedded server started
// with opts.
func newHarnessServer(t testing.TB, configure func(*Config), opts ...ServerOption) *harness {
	t.Helper()
	ns, err := StartServer("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := ns.ConnectOP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	dir, err := registry.Open(filepath.Join(t.TempDir(), "state"), registry.Config{PasswordIterations: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"user", "alice", "bob"} {
		if err := dir.AddUser(registry.User{ID: u}, "password"); err != nil {
			t.Fatal(err)
		}
	}
	logs := &syncBuffer{}
	cfg := Config{Conn: nc, Realm: "master", Users: dir, Devices: dir, Gate: ns,
		DeviceSyncInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if configure != nil {
		configure(&cfg)
	}
	r, err := NewResponder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dec := &decider{done: map[string]bool{}, sink: r}
	if err := r.Serve(dec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return &harness{ns: ns, op: nc, dir: dir, dec: dec, r: r, url: ns.ClientURL(), logs: logs}
}

// errs collects a connection's asynchronous errors (permission violations).
type errs chan error

func (e errs) handler() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case e <- err:
		default:
		}
	})
}

// wantViolation waits for a permission violation.
func (e errs) wantViolation(t testing.TB, what string) {
	t.Helper()
	select {
	case err := <-e:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("%s: %v, want a permission violation", what, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s was not refused", what)
	}
}

// anonymous connects without credentials.
func (h *harness) anonymous(t testing.TB) (*nats.Conn, errs) {
	t.Helper()
	e := make(errs, 10)
	nc, err := nats.Connect(h.url, e.handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, e
}

// device is a device's keys and, once enrolled, its id and connection.
type device struct {
	key  *ecdsa.PrivateKey
	nkey nkeys.KeyPair
	pub  string
	id   string
	user string
	nc   *nats.Conn
	errs errs
}

func newDevice(t testing.TB) *device {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nk, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := nk.PublicKey()
	return &device{key: key, nkey: nk, pub: pub}
}

func (d *device) enrollRequest(t testing.TB, user, password string) channel.EnrollRequest {
	t.Helper()
	jwk, err := pki.PublicJWK(d.key.Public(), "kid-"+d.pub[:8], "ES256")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(jwk)
	return channel.EnrollRequest{Version: 1, User: user, Password: password, DeviceName: "test phone", DeviceKey: raw, NKey: d.pub}
}

// request sends in (a value or raw bytes) on subject over nc and decodes
// the reply into out.
func request(t testing.TB, nc *nats.Conn, subject string, in, out any) {
	t.Helper()
	data, ok := in.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(in); err != nil {
			t.Fatal(err)
		}
	}
	msg, err := nc.Request(subject, data, 5*time.Second)
	if err != nil {
		t.Fatalf("request on %s: %v", subject, err)
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		t.Fatalf("reply is not JSON: %s", msg.Data)
	}
}

// hello asks, over a connection without credentials, that d's nkey be
// admitted to enroll (channel.EnrollHello).
func (h *harness) hello(t testing.TB, nkey string) {
	t.Helper()
	anon, _ := h.anonymous(t)
	b, _ := json.Marshal(channel.EnrollHello{Version: 1, NKey: nkey})
	if err := anon.Publish(channel.EnrollSubject("master"), b); err != nil {
		t.Fatal(err)
	}
	if err := anon.Flush(); err != nil {
		t.Fatal(err)
	}
}

// ticket has d's nkey admitted to enroll and connects with it, its inbox
// below its enrollment inbox prefix; it fails the test when the nkey is
// not admitted within 5 s.
func (h *harness) ticket(t testing.TB, d *device) (*nats.Conn, errs) {
	t.Helper()
	h.hello(t, d.pub)
	e := make(errs, 10)
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc, err := nats.Connect(h.url, e.handler(), nats.Nkey(d.pub, d.nkey.Sign), nats.MaxReconnects(0),
			nats.CustomInboxPrefix(channel.EnrollInboxPrefix("master", d.pub)))
		if err == nil {
			t.Cleanup(nc.Close)
			return nc, e
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nkey was not admitted to enroll: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// enrollOn sends in (a value or raw bytes) as d's enrollment request over
// nc, d's ticket connection.
func enrollOn(t testing.TB, nc *nats.Conn, d *device, in any) channel.EnrollResponse {
	t.Helper()
	var resp channel.EnrollResponse
	request(t, nc, channel.EnrollKeySubject("master", d.pub), in, &resp)
	return resp
}

// enroll enrolls a new device of user (a hello, then the enrollment over
// its admitted nkey) and connects it with its nkey.
func (h *harness) enroll(t testing.TB, user string) *device {
	t.Helper()
	d := newDevice(t)
	tk, _ := h.ticket(t, d)
	resp := enrollOn(t, tk, d, d.enrollRequest(t, user, "password"))
	tk.Close()
	if resp.Error != "" || resp.DeviceID == "" {
		t.Fatalf("enroll: %+v", resp)
	}
	d.id, d.user = resp.DeviceID, resp.User
	d.connect(t, h.url, nats.MaxReconnects(0))
	return d
}

// connect connects with the device's nkey and private inbox.
func (d *device) connect(t testing.TB, url string, opts ...nats.Option) {
	t.Helper()
	d.errs = make(errs, 10)
	nc, err := nats.Connect(url, append([]nats.Option{d.errs.handler(),
		nats.Nkey(d.pub, d.nkey.Sign),
		nats.CustomInboxPrefix(channel.DeviceInboxPrefix("master", d.id)),
	}, opts...)...)
	if err != nil {
		t.Fatalf("device connect: %v", err)
	}
	t.Cleanup(nc.Close)
	d.nc = nc
}

func (d *device) sign(t testing.TB, c channel.DecisionClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = "kid-" + d.pub[:8]
	s, err := tok.SignedString(d.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(deviceID, id, verdict, jti string, iat time.Time) channel.DecisionClaims {
	return channel.DecisionClaims{AuthReqID: id, Verdict: verdict, DeviceID: deviceID, AMR: []string{"pin"},
		RegisteredClaims: jwt.RegisteredClaims{ID: jti, IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(iat.Add(time.Minute))}}
}

func (d *device) decide(t testing.TB, token string) channel.DecisionResult {
	t.Helper()
	var res channel.DecisionResult
	request(t, d.nc, channel.DeviceDecideSubject("master", d.id), channel.Decision{Version: 1, JWT: token}, &res)
	return res
}

func TestEnroll(t *testing.T) {
	h := newHarness(t)
	d := newDevice(t)
	tk, _ := h.ticket(t, d)
	good := d.enrollRequest(t, "alice", "password")
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"garbage", []byte("garbage"), channel.ErrBadMessage},
		{"truncated", []byte(`{"v":1,"user":"alice","pass`), channel.ErrBadMessage},
		{"version 2", func() any { x := good; x.Version = 2; return x }(), channel.ErrUnsupported},
		{"wrong password", func() any { x := good; x.Password = "wrong"; return x }(), channel.ErrBadCredentials},
		{"unknown user", func() any { x := good; x.User = "nobody"; return x }(), channel.ErrBadCredentials},
		{"no password", func() any { x := good; x.Password = ""; return x }(), channel.ErrBadMessage},
		{"bad key", func() any {
			x := good
			x.DeviceKey = []byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}`)
			return x
		}(), channel.ErrBadMessage},
		{"another nkey", func() any {
			x := good
			x.NKey = newDevice(t).pub
			return x
		}(), channel.ErrBadMessage},
		{"account nkey", func() any {
			x := good
			acc, _ := nkeys.CreateAccount()
			x.NKey, _ = acc.PublicKey()
			return x
		}(), channel.ErrBadMessage},
		{"escape in name", func() any { x := good; x.DeviceName = "\x1b[2J"; return x }(), channel.ErrBadMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := enrollOn(t, tk, d, tt.in)
			if resp.Error != tt.want || resp.DeviceID != "" {
				t.Fatalf("got %+v, want %s", resp, tt.want)
			}
		})
	}
	if devs, _ := h.dir.Devices(); len(devs) != 0 {
		t.Fatalf("refused enrollments stored devices: %+v", devs)
	}
	if strings.Contains(h.logs.String(), "password\"") || strings.Contains(h.logs.String(), "wrong") {
		t.Fatalf("a password reached the log:\n%s", h.logs)
	}

	resp := enrollOn(t, tk, d, good)
	want := channel.EnrollResponse{Version: 1, DeviceID: resp.DeviceID, User: "alice",
		RequestsSubject: channel.UserRequestsSubject("master", "alice"),
		PendingSubject:  channel.DevicePendingSubject("master", resp.DeviceID),
		DecideSubject:   channel.DeviceDecideSubject("master", resp.DeviceID),
		InboxPrefix:     channel.DeviceInboxPrefix("master", resp.DeviceID)}
	if resp != want || channel.ValidDeviceID(resp.DeviceID) != nil {
		t.Fatalf("enroll = %+v, want %+v", resp, want)
	}
	again := enrollOn(t, tk, d, good)
	if again.DeviceID != resp.DeviceID {
		t.Fatalf("enrolling the same keys again: %+v, want device %s", again, resp.DeviceID)
	}
	devs, _ := h.dir.Devices()
	if len(devs) != 1 || devs[0].User != "alice" || devs[0].Name != "test phone" || devs[0].NKey != d.pub {
		t.Fatalf("devices %+v", devs)
	}
	if _, err := h.dir.RevokeDevice(resp.DeviceID); err != nil {
		t.Fatal(err)
	}
	again = enrollOn(t, tk, d, good)
	if again.Error != channel.ErrDeviceRevoked {
		t.Fatalf("re-enrolling a revoked device: %+v", again)
	}
}

// TestClosedByDefault: a connection without credentials reaches only the
// enrollment subject; wrong credentials are refused.
func TestClosedByDefault(t *testing.T) {
	h := newHarness(t)
	alice := h.enroll(t, "alice")
	anon, e := h.anonymous(t)

	for _, subject := range []string{
		channel.UserRequestsSubject("master", "alice"),
		channel.EventsSubject("master"),
		channel.EnrollSubject("master"), // passwords
		channel.DeviceInboxPrefix("master", alice.id) + ".>",
		"_INBOX.>", // other connections' replies
		"_INBOX.abc.1",
		channel.EnrollInboxPrefix("master", alice.pub) + ".>",
		">",
	} {
		sub, _ := anon.SubscribeSync(subject)
		anon.Flush()
		e.wantViolation(t, "anonymous subscribe to "+subject)
		sub.Unsubscribe()
	}
	for _, subject := range []string{
		channel.UserRequestsSubject("master", "alice"),
		channel.DeviceDecideSubject("master", alice.id),
		channel.DevicePendingSubject("master", alice.id),
		channel.EnrollKeySubject("master", alice.pub),
	} {
		anon.Publish(subject, []byte(`{"v":1}`))
		anon.Flush()
		e.wantViolation(t, "anonymous publish to "+subject)
	}
	if len(h.dec.decisions()) != 0 {
		t.Fatal("an anonymous connection decided")
	}

	// An nkey that is not enrolled is refused at connect time.
	stranger := newDevice(t)
	if nc, err := nats.Connect(h.url, nats.Nkey(stranger.pub, stranger.nkey.Sign), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("an unenrolled nkey connected")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("unenrolled nkey: %v, want an authorization violation", err)
	}
	// A password guessed for the OP's user is refused too.
	if nc, err := nats.Connect(h.url, nats.UserInfo(opUser, "guess"), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a guessed OP password connected")
	}
}

// TestDeviceIsolation: a device reads only its own user's requests and
// its own replies, and publishes only its own requests to the OP.
func TestDeviceIsolation(t *testing.T) {
	h := newHarness(t)
	alice := h.enroll(t, "alice")
	alice2 := h.enroll(t, "alice")
	bob := h.enroll(t, "bob")

	mine, err := alice.nc.SubscribeSync(channel.UserRequestsSubject("master", "alice"))
	if err != nil {
		t.Fatal(err)
	}
	alice.nc.Flush()
	for _, subject := range []string{
		channel.UserRequestsSubject("master", "bob"),
		channel.Prefix + ".master.user.*.requests",
		channel.DeviceInboxPrefix("master", bob.id) + ".>",
		channel.DeviceInboxPrefix("master", alice2.id) + ".>",
		"_INBOX.>",
		channel.EventsSubject("master"),
		channel.EnrollSubject("master"),
	} {
		sub, _ := alice.nc.SubscribeSync(subject)
		alice.nc.Flush()
		alice.errs.wantViolation(t, "alice's device subscribing to "+subject)
		sub.Unsubscribe()
	}
	for _, subject := range []string{
		channel.DeviceDecideSubject("master", bob.id),
		channel.DevicePendingSubject("master", bob.id),
		channel.UserRequestsSubject("master", "alice"),
	} {
		alice.nc.Publish(subject, []byte(`{"v":1}`))
		alice.nc.Flush()
		alice.errs.wantViolation(t, "alice's device publishing to "+subject)
	}

	if err := h.r.Announce(context.Background(), channel.AuthRequest{Version: 1, AuthReqID: "for-bob", User: "bob"}); err != nil {
		t.Fatal(err)
	}
	if err := h.r.Announce(context.Background(), channel.AuthRequest{Version: 1, AuthReqID: "for-alice", User: "alice"}); err != nil {
		t.Fatal(err)
	}
	msg, err := mine.NextMsg(5 * time.Second)
	if err != nil || !strings.Contains(string(msg.Data), "for-alice") {
		t.Fatalf("alice's device got %v, %v; want alice's request only", msg, err)
	}

	// Pending lists: each device gets its own user's.
	for _, d := range []*device{alice, bob} {
		var resp channel.PendingResponse
		request(t, d.nc, channel.DevicePendingSubject("master", d.id), channel.PendingRequest{Version: 1}, &resp)
		if resp.Error != "" || len(resp.Requests) != 1 || resp.Requests[0].User != d.user {
			t.Fatalf("%s's pending: %+v", d.user, resp)
		}
	}
}

// TestDecisions: only the enrolled key of the device named by the subject
// decides, once, on its own user's pending request; every refusal leaves
// the request untouched and is logged.
func TestDecisions(t *testing.T) {
	h := newHarness(t)
	dev := h.enroll(t, "user")
	alice := h.enroll(t, "alice")
	now := time.Now()
	tests := []struct {
		name string
		tok  func() string
		want string
	}{
		{"signed by another device's key", func() string { return alice.sign(t, claims(dev.id, "pending-user", "approve", "j1", now)) }, channel.ErrBadSignature},
		{"signed for another device", func() string { return dev.sign(t, claims(alice.id, "pending-user", "approve", "j2", now)) }, channel.ErrBadSignature},
		{"alg none", func() string {
			tok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(dev.id, "pending-user", "approve", "j3", now)).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return tok
		}, channel.ErrBadSignature},
		{"HS256 with the public key", func() string {
			pub, _ := json.Marshal(dev.key.Public())
			tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(dev.id, "pending-user", "approve", "j3b", now)).SignedString(pub)
			return tok
		}, channel.ErrBadSignature},
		{"stale iat", func() string {
			return dev.sign(t, claims(dev.id, "pending-user", "approve", "j4", now.Add(-10*time.Minute)))
		}, channel.ErrBadMessage},
		{"bad verdict", func() string { return dev.sign(t, claims(dev.id, "pending-user", "maybe", "j5", now)) }, channel.ErrBadMessage},
		{"no jti", func() string { return dev.sign(t, claims(dev.id, "pending-user", "approve", "", now)) }, channel.ErrBadMessage},
		{"another user's request", func() string { return dev.sign(t, claims(dev.id, "pending-alice", "approve", "j6", now)) }, channel.ErrNotYourRequest},
		{"not JWT at all", func() string { return "garbage" }, channel.ErrBadSignature},
		{"truncated JWT", func() string {
			s := dev.sign(t, claims(dev.id, "pending-user", "approve", "j7", now))
			return s[:len(s)-10]
		}, channel.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := dev.decide(t, tt.tok()); res.Accepted || res.Error != tt.want {
				t.Fatalf("got %+v, want %s", res, tt.want)
			}
		})
	}
	if got := h.dec.decisions(); len(got) != 0 {
		t.Fatalf("refused decisions reached the OP: %+v", got)
	}
	if n := strings.Count(h.logs.String(), "msg=decision.refused"); n != len(tests) {
		t.Fatalf("%d refusals logged, want %d:\n%s", n, len(tests), h.logs)
	}

	tok := dev.sign(t, claims(dev.id, "pending-user", "approve", "good", now))
	if res := dev.decide(t, tok); !res.Accepted {
		t.Fatalf("valid decision refused: %+v", res)
	}
	got := h.dec.decisions()
	if len(got) != 1 || got[0].user != "user" || !got[0].v.Approve || got[0].v.AMR[0] != "pin" {
		t.Fatalf("decisions %+v", got)
	}
	// The very same JWT again (its answer was lost): the original
	// outcome, applied once.
	if res := dev.decide(t, tok); !res.Accepted || res.Error != "" {
		t.Fatalf("resent decision: %+v, want the original outcome (accepted)", res)
	}
	// Another JWT reusing the jti: a replay.
	reuse := dev.sign(t, claims(dev.id, "pending-user", "deny", "good", now))
	if res := dev.decide(t, reuse); res.Error != channel.ErrReplay {
		t.Fatalf("replay: %+v", res)
	}
	again := dev.sign(t, claims(dev.id, "pending-user", "deny", "other", now))
	if res := dev.decide(t, again); res.Error != channel.ErrNotPending {
		t.Fatalf("second decision: %+v", res)
	}
	var garbage channel.DecisionResult
	request(t, dev.nc, channel.DeviceDecideSubject("master", dev.id), []byte{0xff, 0x00}, &garbage)
	if garbage.Error != channel.ErrBadMessage {
		t.Fatalf("garbage: %+v", garbage)
	}
	var v2 channel.DecisionResult
	request(t, dev.nc, channel.DeviceDecideSubject("master", dev.id), channel.Decision{Version: 2, JWT: tok}, &v2)
	if v2.Error != channel.ErrUnsupported {
		t.Fatalf("version 2: %+v", v2)
	}
	if len(h.dec.decisions()) != 1 {
		t.Fatalf("decisions %+v", h.dec.decisions())
	}
	if strings.Contains(h.logs.String(), "pending-user") || strings.Contains(h.logs.String(), tok) {
		t.Fatalf("a full auth_req_id or a JWT reached the log:\n%s", h.logs)
	}
}

// TestSenderChecks: messages that reach the responder for an unknown or
// revoked device, or asking for a reply outside the device's inbox, are
// refused (with an external NATS server nothing stops them earlier).
func TestSenderChecks(t *testing.T) {
	h := newHarness(t)
	dev := h.enroll(t, "user")
	tok := dev.sign(t, claims(dev.id, "pending-user", "approve", "x", time.Now()))
	body, _ := json.Marshal(channel.Decision{Version: 1, JWT: tok})
	inbox := channel.DeviceInboxPrefix("master", dev.id) + ".r"
	tests := []struct {
		name, subject, reply, want string
	}{
		{"unknown device", channel.DeviceDecideSubject("master", "dev-unknown"), channel.DeviceInboxPrefix("master", "dev-unknown") + ".r", channel.ErrUnknownDevice},
		{"bad device id", "cibalab.v1.master.device.a b.decide", "_INBOX.r", channel.ErrUnknownDevice},
		{"reply to a shared inbox", channel.DeviceDecideSubject("master", dev.id), "_INBOX.r", channel.ErrBadMessage},
		{"reply to another device's inbox", channel.DeviceDecideSubject("master", dev.id), channel.DeviceInboxPrefix("master", "dev-other") + ".r", channel.ErrBadMessage},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.r.decide(ctx, h.dec, tt.subject, tt.reply, body).(channel.DecisionResult)
			if res.Error != tt.want {
				t.Fatalf("decide: %+v, want %s", res, tt.want)
			}
			p := h.r.pending(ctx, h.dec, strings.Replace(tt.subject, ".decide", ".pending", 1), tt.reply, []byte(`{"v":1}`)).(channel.PendingResponse)
			if p.Error != tt.want || len(p.Requests) != 0 {
				t.Fatalf("pending: %+v, want %s", p, tt.want)
			}
		})
	}
	if _, err := h.dir.RevokeDevice(dev.id); err != nil {
		t.Fatal(err)
	}
	// Before any sync: the responder reads the registry on each message.
	if res := h.r.decide(ctx, h.dec, channel.DeviceDecideSubject("master", dev.id), inbox, body).(channel.DecisionResult); res.Error != channel.ErrDeviceRevoked {
		t.Fatalf("revoked device's decision: %+v", res)
	}
	if len(h.dec.decisions()) != 0 {
		t.Fatalf("decisions %+v", h.dec.decisions())
	}
}

// TestRevokedDeviceDisconnected: revoking a device (as ciba-op device
// revoke does, in another process) disconnects it and refuses it from
// then on, while other devices stay connected.
func TestRevokedDeviceDisconnected(t *testing.T) {
	h := newHarness(t)
	dev := h.enroll(t, "user")
	other := h.enroll(t, "user")
	closed := make(chan struct{})
	dev.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	events, err := h.op.SubscribeSync(channel.EventsSubject("master"))
	if err != nil {
		t.Fatal(err)
	}
	h.op.Flush()

	if _, err := h.dir.RevokeDevice(dev.id); err != nil {
		t.Fatal(err)
	}
	if err := h.r.SyncDevices(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked device is still connected")
	}
	if _, err := nats.Connect(h.url, nats.Nkey(dev.pub, dev.nkey.Sign), nats.MaxReconnects(0)); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("revoked device reconnecting: %v, want an authorization violation", err)
	}
	msg, err := events.NextMsg(5 * time.Second)
	var ev channel.Event
	if err != nil || json.Unmarshal(msg.Data, &ev) != nil || ev.Type != channel.EventDeviceRevoked || ev.Detail != dev.id {
		t.Fatalf("event %v %+v, want device.revoked", err, ev)
	}
	var resp channel.PendingResponse
	request(t, other.nc, channel.DevicePendingSubject("master", other.id), channel.PendingRequest{Version: 1}, &resp)
	if resp.Error != "" {
		t.Fatalf("the other device lost access: %+v", resp)
	}
}

// TestWatcherAppliesRevocation: the watcher notices a revocation made by
// another process without an explicit sync.
func TestWatcherAppliesRevocation(t *testing.T) {
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
	dir, _ := registry.Open(filepath.Join(t.TempDir(), "s"), registry.Config{PasswordIterations: 2})
	r, err := NewResponder(Config{Conn: nc, Realm: "master", Users: dir, Devices: dir, Gate: ns, DeviceSyncInterval: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Serve(&decider{done: map[string]bool{}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	d := newDevice(t)
	jwk, _ := pki.PublicJWK(d.key.Public(), "", "ES256")
	stored, err := dir.EnrollDevice(registry.Device{User: "user", Key: jwk, NKey: d.pub}) // enrolled by another process
	if err != nil {
		t.Fatal(err)
	}
	d.id = stored.ID
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc, err := nats.Connect(ns.ClientURL(), nats.Nkey(d.pub, d.nkey.Sign), nats.MaxReconnects(0))
		if err == nil {
			closed := make(chan struct{})
			nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
			if _, err := dir.RevokeDevice(d.id); err != nil {
				t.Fatal(err)
			}
			select {
			case <-closed:
				return
			case <-time.After(5 * time.Second):
				t.Fatal("the watcher did not disconnect the revoked device")
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watcher did not let the new device in: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNewResponderRequires(t *testing.T) {
	if _, err := NewResponder(Config{Realm: "master"}); err == nil {
		t.Fatal("accepted a config without Conn")
	}
}

// FuzzEnrollMessage: no enrollment message crashes the responder or
// enrolls a device without the right password.
func FuzzEnrollMessage(f *testing.F) {
	f.Add([]byte(`{"v":1,"user":"user","password":"password","device_key":{"kty":"EC"},"nkey":"U"}`))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"v":1,"user":"user","password":"x","device_key":null}`))
	dir, _ := registry.Open(filepath.Join(f.TempDir(), "s"), registry.Config{PasswordIterations: 1})
	// A password no fuzzer finds: every enrollment must be refused.
	dir.AddUser(registry.User{ID: "user"}, rand.Text())
	r, err := NewResponder(Config{Realm: "master", Users: dir, Devices: dir, Conn: &nats.Conn{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, ok := r.enroll(context.Background(), "UCO2PUCRWUOTM5AYMHP2BOWIA5P37PKXD4TYWT6ZMZI2XS2QKIFV2TDP", data).(channel.EnrollResponse)
		if !ok || res.DeviceID != "" || res.Error == "" {
			t.Fatalf("enroll(%q) = %+v", data, res)
		}
	})
}

func TestDeviceFromSubject(t *testing.T) {
	tests := map[string]string{
		"cibalab.v1.master.device.dev-1.decide": "dev-1",
		"cibalab.v1.master.device.decide":       "",
		"cibalab.v1.master.device.a.b.decide":   "",
		"":                                      "",
	}
	for in, want := range tests {
		if got := deviceFromSubject(in); got != want {
			t.Errorf("deviceFromSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// FuzzEnrollHello: no hello crashes the responder, and only a version 1
// hello naming a public user nkey admits anything.
func FuzzEnrollHello(f *testing.F) {
	f.Add([]byte(`{"v":1,"nkey":"UCO2PUCRWUOTM5AYMHP2BOWIA5P37PKXD4TYWT6ZMZI2XS2QKIFV2TDP"}`))
	f.Add([]byte(`{"v":1,"nkey":"U.>"}`))
	f.Add([]byte(`[]`))
	dir, _ := registry.Open(filepath.Join(f.TempDir(), "s"), registry.Config{PasswordIterations: 1})
	r, err := NewResponder(Config{Realm: "master", Users: dir, Devices: dir, Conn: &nats.Conn{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r.hello(context.Background(), data)
		r.mu.Lock()
		defer r.mu.Unlock()
		for nk := range r.tickets {
			if !nkeys.IsValidPublicUserKey(nk) {
				t.Fatalf("hello %q admitted %q", data, nk)
			}
			delete(r.tickets, nk)
		}
	})
}
