package fakeop

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"cibalab/shared/channel"
	"cibalab/shared/pki"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config configures [Start].
type Config struct {
	// Realm is the realm served; empty means "master".
	Realm string
	// Users maps each user id to its password.
	Users map[string]string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Decision is a decision the fake OP accepted.
type Decision struct {
	Claims    channel.DecisionClaims
	KeyID     string // kid of the JWT header
	SessionID string // session of the Decision message
	User      string // user of that session
}

type session struct {
	user string
	key  *ecdsa.PublicKey
	kid  string
}

type request struct {
	req     channel.AuthRequest
	decided bool
}

// OP is a running fake OP. Its methods are safe for concurrent use.
type OP struct {
	// URL is the NATS URL devices connect to.
	URL string
	// Realm is the realm served.
	Realm string

	ns  *server.Server
	nc  *nats.Conn
	now func() time.Time

	mu        sync.Mutex
	users     map[string]string
	sessions  map[string]*session
	requests  map[string]*request
	order     []string
	jtis      map[string]bool
	signIns   int
	refusal   *channel.DecisionResult
	decisions []Decision
	decided   chan Decision
}

// Start runs a NATS server on 127.0.0.1 with a random port and the fake
// OP's responders; both stop at the end of the test.
func Start(tb testing.TB, cfg Config) *OP {
	tb.Helper()
	if cfg.Realm == "" {
		cfg.Realm = "master"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		tb.Fatalf("fakeop: nats server: %v", err)
	}
	ns.Start()
	tb.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("fakeop: nats server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.Name("fakeop"))
	if err != nil {
		tb.Fatalf("fakeop: connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	op := &OP{
		URL: ns.ClientURL(), Realm: cfg.Realm, ns: ns, nc: nc, now: cfg.Now,
		users: cfg.Users, sessions: map[string]*session{}, requests: map[string]*request{},
		jtis: map[string]bool{}, decided: make(chan Decision, 100),
	}
	for subject, handle := range map[string]func([]byte) any{
		channel.SignInSubject(cfg.Realm):  op.signIn,
		channel.PendingSubject(cfg.Realm): op.pending,
		channel.DecideSubject(cfg.Realm):  op.decide,
	} {
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
			data, _ := json.Marshal(handle(m.Data))
			_ = m.Respond(data)
		}); err != nil {
			tb.Fatalf("fakeop: subscribe: %v", err)
		}
	}
	if err := nc.Flush(); err != nil {
		tb.Fatalf("fakeop: flush: %v", err)
	}
	return op
}

func randomID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewRequest records a pending request of user for client "cibaConformance"
// with scope "openid profile", expiring in 120 s, and returns it; it is
// listed by pending but not announced (see [OP.Announce]).
func (op *OP) NewRequest(user, bindingMessage string) channel.AuthRequest {
	now := op.now()
	r := channel.AuthRequest{
		Version: channel.Version, AuthReqID: randomID(), ClientID: "cibaConformance",
		User: user, Scope: []string{"openid", "profile"}, BindingMessage: bindingMessage,
		CreatedAt: now.Unix(), ExpiresAt: now.Add(120 * time.Second).Unix(),
	}
	op.mu.Lock()
	op.requests[r.AuthReqID] = &request{req: r}
	op.order = append(op.order, r.AuthReqID)
	op.mu.Unlock()
	return r
}

// Announce publishes r on its user's requests subject.
func (op *OP) Announce(tb testing.TB, r channel.AuthRequest) {
	tb.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	op.PublishRaw(tb, r.User, data)
}

// PublishRaw publishes data as it is on user's requests subject.
func (op *OP) PublishRaw(tb testing.TB, user string, data []byte) {
	tb.Helper()
	if err := op.nc.Publish(channel.UserRequestsSubject(op.Realm, user), data); err != nil {
		tb.Fatalf("fakeop: publish: %v", err)
	}
	if err := op.nc.Flush(); err != nil {
		tb.Fatalf("fakeop: flush: %v", err)
	}
}

// RefuseDecisions makes every later decision refused with code.
func (op *OP) RefuseDecisions(code, description string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.refusal = &channel.DecisionResult{Version: channel.Version, Error: code, ErrorDescription: description}
}

// ForgetSessions drops every session, as an OP restart would.
func (op *OP) ForgetSessions() {
	op.mu.Lock()
	defer op.mu.Unlock()
	clear(op.sessions)
}

// SignIns is the number of successful sign-ins so far.
func (op *OP) SignIns() int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.signIns
}

// Decisions returns the decisions accepted so far.
func (op *OP) Decisions() []Decision {
	op.mu.Lock()
	defer op.mu.Unlock()
	return append([]Decision(nil), op.decisions...)
}

// WaitDecision returns the next accepted decision, failing the test after
// 10 s without one.
func (op *OP) WaitDecision(tb testing.TB) Decision {
	tb.Helper()
	select {
	case d := <-op.decided:
		return d
	case <-time.After(10 * time.Second):
		tb.Fatal("fakeop: no decision within 10 s")
		return Decision{}
	}
}

// KickClients disconnects every NATS client except the fake OP's own, so
// that they reconnect.
func (op *OP) KickClients(tb testing.TB) {
	tb.Helper()
	own, err := op.nc.GetClientID()
	if err != nil {
		tb.Fatal(err)
	}
	conns, err := op.ns.Connz(nil)
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range conns.Conns {
		if c.Cid != own {
			if err := op.ns.DisconnectClientByID(c.Cid); err != nil {
				tb.Fatalf("fakeop: disconnect: %v", err)
			}
		}
	}
}

func (op *OP) signIn(data []byte) any {
	var in channel.SignInRequest
	if err := json.Unmarshal(data, &in); err != nil {
		return channel.SignInResponse{Version: channel.Version, Error: channel.ErrBadMessage}
	}
	if in.Version != channel.Version {
		return channel.SignInResponse{Version: channel.Version, Error: channel.ErrUnsupported}
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	want, ok := op.users[in.User]
	if !ok || in.Password != want {
		return channel.SignInResponse{Version: channel.Version, Error: channel.ErrBadCredentials, ErrorDescription: "wrong user or password"}
	}
	var jwk pki.JWK
	if err := json.Unmarshal(in.DeviceKey, &jwk); err != nil || jwk.Kty != "EC" || jwk.Crv != "P-256" || jwk.Alg != "ES256" {
		return channel.SignInResponse{Version: channel.Version, Error: channel.ErrBadMessage, ErrorDescription: "device_key"}
	}
	pub, err := jwk.PublicKey()
	if err != nil {
		return channel.SignInResponse{Version: channel.Version, Error: channel.ErrBadMessage, ErrorDescription: "device_key"}
	}
	id := randomID()
	op.sessions[id] = &session{user: in.User, key: pub.(*ecdsa.PublicKey), kid: jwk.Kid}
	op.signIns++
	return channel.SignInResponse{
		Version: channel.Version, SessionID: id, User: in.User,
		RequestsSubject:  channel.UserRequestsSubject(op.Realm, in.User),
		SessionExpiresAt: op.now().Add(time.Hour).Unix(),
	}
}

func (op *OP) pending(data []byte) any {
	var in channel.PendingRequest
	if err := json.Unmarshal(data, &in); err != nil || in.Version != channel.Version {
		return channel.PendingResponse{Version: channel.Version, Error: channel.ErrBadMessage}
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	s, ok := op.sessions[in.SessionID]
	if !ok {
		return channel.PendingResponse{Version: channel.Version, Error: channel.ErrUnknownSession}
	}
	out := channel.PendingResponse{Version: channel.Version, Requests: []channel.AuthRequest{}}
	now := op.now().Unix()
	for _, id := range op.order {
		r := op.requests[id]
		if r.req.User == s.user && !r.decided && r.req.ExpiresAt > now {
			out.Requests = append(out.Requests, r.req)
		}
	}
	return out
}

func (op *OP) decide(data []byte) any {
	refuse := func(code, desc string) channel.DecisionResult {
		return channel.DecisionResult{Version: channel.Version, Error: code, ErrorDescription: desc}
	}
	var in channel.Decision
	if err := json.Unmarshal(data, &in); err != nil || in.Version != channel.Version {
		return refuse(channel.ErrBadMessage, "not a version 1 decision")
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	s, ok := op.sessions[in.SessionID]
	if !ok {
		return refuse(channel.ErrUnknownSession, "sign in again")
	}
	if op.refusal != nil {
		return *op.refusal
	}
	var claims channel.DecisionClaims
	tok, err := jwt.ParseWithClaims(in.JWT, &claims, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuedAt(), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(op.now))
	if err != nil {
		return refuse(channel.ErrBadSignature, err.Error())
	}
	if kid, _ := tok.Header["kid"].(string); kid != s.kid {
		return refuse(channel.ErrBadSignature, "kid is not the registered key's")
	}
	if err := claims.Validate(); err != nil {
		return refuse(channel.ErrBadMessage, err.Error())
	}
	if claims.SessionID != in.SessionID {
		return refuse(channel.ErrBadMessage, "sid is not the session of the message")
	}
	if op.jtis[claims.ID] {
		return refuse(channel.ErrReplay, "jti already used")
	}
	r, ok := op.requests[claims.AuthReqID]
	if !ok || r.req.User != s.user {
		return refuse(channel.ErrNotYourRequest, "unknown request")
	}
	if r.decided || r.req.ExpiresAt <= op.now().Unix() {
		return refuse(channel.ErrNotPending, "request is not pending")
	}
	op.jtis[claims.ID] = true
	r.decided = true
	d := Decision{Claims: claims, KeyID: s.kid, SessionID: in.SessionID, User: s.user}
	op.decisions = append(op.decisions, d)
	select {
	case op.decided <- d:
	default:
	}
	return channel.DecisionResult{Version: channel.Version, Accepted: true}
}
