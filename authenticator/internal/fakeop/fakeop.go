package fakeop

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/pki"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Config configures [Start].
type Config struct {
	// Realm is the realm served; empty means "master".
	Realm string
	// Users maps each user id to its password.
	Users map[string]string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ListLimit, when positive, is the most requests a pending list
	// holds; a longer one is cut there and marked More, as the OP does
	// with a list that would not fit in one NATS message.
	ListLimit int
}

// Decision is a decision the fake OP accepted.
type Decision struct {
	Claims   channel.DecisionClaims
	KeyID    string // kid of the JWT header
	DeviceID string // device named by the subject
	User     string // that device's user
}

// Device is an enrolled device as the fake OP keeps it.
type Device struct {
	ID, User, Name, NKey, KeyID string
	Revoked                     bool
	key                         *ecdsa.PublicKey
}

// sent is an accepted decision's JWT, its device and the answer given,
// kept by jti: a resend of the same JWT is answered the same way.
type sent struct {
	token, device string
	result        channel.DecisionResult
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

	now       func() time.Time
	listLimit int
	port      int
	tb        testing.TB

	mu          sync.Mutex
	ns          *server.Server
	nc          *nats.Conn
	users       map[string]string
	devices     map[string]*Device
	requests    map[string]*request
	order       []string
	jtis        map[string]sent
	enrollments int
	refusal     *channel.DecisionResult
	lockedOut   bool
	admitted    map[string]bool // nkeys admitted to enroll by a hello
	auth        *auth           // the NATS server's client authentication
	hellos      int
	decisions   []Decision
	decided     chan Decision
	hold        chan struct{} // while set, decisions wait for it to close
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
	op := &OP{Realm: cfg.Realm, now: cfg.Now, listLimit: cfg.ListLimit, tb: tb, users: cfg.Users, devices: map[string]*Device{},
		requests: map[string]*request{}, jtis: map[string]sent{}, admitted: map[string]bool{}, decided: make(chan Decision, 100),
		auth: &auth{nkeys: map[string]bool{}, conns: map[string][]uint64{}}}
	op.ns = startNATS(tb, op.options(-1))
	op.URL = op.ns.ClientURL()
	op.port = op.ns.Addr().(*net.TCPAddr).Port
	tb.Cleanup(func() {
		op.mu.Lock()
		ns := op.ns
		op.mu.Unlock()
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	nc, err := nats.Connect(op.URL, nats.UserInfo("fakeop", opPassword), nats.Name("fakeop"), nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	if err != nil {
		tb.Fatalf("fakeop: connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	op.nc = nc
	prefix := channel.Prefix + "." + cfg.Realm + ".device.*."
	// A hello admits its nkey; nothing is answered.
	if _, err := nc.Subscribe(channel.EnrollSubject(cfg.Realm), op.hello); err != nil {
		tb.Fatalf("fakeop: subscribe: %v", err)
	}
	keyPrefix := channel.EnrollKeySubject(cfg.Realm, "")
	for subject, handle := range map[string]func(*nats.Msg) any{
		keyPrefix + "*":    func(m *nats.Msg) any { return op.enroll(strings.TrimPrefix(m.Subject, keyPrefix), m.Data) },
		prefix + "pending": op.pending,
		prefix + "decide":  op.decide,
	} {
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
			data, _ := json.Marshal(handle(m))
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

// opPassword is the fake OP's own NATS password.
const opPassword = "fakeop-password"

// options are the NATS server options: every client is authenticated by
// op.auth (the fake OP's user, the nkeys of unrevoked devices and of
// admitted enrollments, and connections without credentials, admitted to
// enroll). Permissions are not enforced here.
func (op *OP) options(port int) *server.Options {
	return &server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true, AlwaysEnableNonce: true,
		CustomClientAuthentication: op.auth}
}

// reload applies the device set to the running server: an nkey no longer
// admitted is disconnected. No server reload: nats-server re-authorizes
// clients still connecting unsafely during one. The caller holds op.mu.
func (op *OP) reload() {
	keys := map[string]bool{}
	for _, d := range op.devices {
		if !d.Revoked {
			keys[d.NKey] = true
		}
	}
	for nk := range op.admitted {
		keys[nk] = true
	}
	for _, cid := range op.auth.set(keys) {
		op.ns.DisconnectClientByID(cid) // a client gone already is no error
	}
}

// auth is the fake OP's NATS client authentication (server.Authentication).
type auth struct {
	mu    sync.Mutex
	nkeys map[string]bool     // admitted nkeys
	conns map[string][]uint64 // nkey → client ids admitted with it
}

// Check implements server.Authentication.
func (a *auth) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	switch {
	case o.Nkey != "":
		sig, err := base64.RawURLEncoding.DecodeString(o.Sig)
		if err != nil {
			if sig, err = base64.StdEncoding.DecodeString(o.Sig); err != nil {
				return false
			}
		}
		pub, err := nkeys.FromPublicKey(o.Nkey)
		if err != nil || pub.Verify(c.GetNonce(), sig) != nil {
			return false
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if !a.nkeys[o.Nkey] {
			return false
		}
		a.conns[o.Nkey] = append(a.conns[o.Nkey], c.GetID())
	case o.Username == "fakeop":
		if o.Password != opPassword {
			return false
		}
	case o.Username != "" || o.Password != "" || o.Token != "" || o.JWT != "":
		return false
	}
	c.RegisterUser(&server.User{}) // unnamed: the server leaves the client's options alone
	return true
}

// set replaces the admitted nkeys and returns the client ids of the nkeys
// no longer admitted.
func (a *auth) set(keys map[string]bool) []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var gone []uint64
	for nk, ids := range a.conns {
		if !keys[nk] {
			gone = append(gone, ids...)
			delete(a.conns, nk)
		}
	}
	a.nkeys = keys
	return gone
}

func startNATS(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	ns, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("fakeop: nats server: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		tb.Fatal("fakeop: nats server not ready")
	}
	return ns
}

// RestartNATS stops the NATS server, runs down for a moment, and starts a
// new one on the same port: every client, the fake OP's too, must
// reconnect by itself. Requests made while it is down (NewRequest) are only
// listed as pending, never announced.
func (op *OP) RestartNATS(tb testing.TB, down func()) {
	tb.Helper()
	op.mu.Lock()
	old := op.ns
	op.mu.Unlock()
	old.Shutdown()
	old.WaitForShutdown()
	deadline := time.Now().Add(10 * time.Second)
	for op.nc.IsConnected() { // wait until the OP's client noticed
		if time.Now().After(deadline) {
			tb.Fatal("fakeop: the OP did not notice the shutdown")
		}
		time.Sleep(time.Millisecond)
	}
	if down != nil {
		down()
	}
	op.mu.Lock()
	ns := startNATS(tb, op.options(op.port))
	op.ns = ns
	op.mu.Unlock()
	for {
		if op.nc.IsClosed() {
			tb.Fatalf("fakeop: the OP's connection closed: %v", op.nc.LastError())
		}
		if op.nc.IsConnected() && op.nc.FlushTimeout(time.Second) == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("fakeop: the OP did not reconnect")
		}
		time.Sleep(5 * time.Millisecond)
	}
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
	op.Add(r)
	return r
}

// Add records r as a pending request, as it is; see [OP.NewRequest].
func (op *OP) Add(r channel.AuthRequest) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.requests[r.AuthReqID] = &request{req: r}
	op.order = append(op.order, r.AuthReqID)
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

// CloseRequest marks the request id decided (it is no longer listed as
// pending) and tells its user's devices, as the OP does when a request is
// decided, redeemed or expires (channel.RequestClosed with reason).
func (op *OP) CloseRequest(tb testing.TB, id, reason string) {
	tb.Helper()
	op.mu.Lock()
	r, ok := op.requests[id]
	if ok {
		r.decided = true
	}
	op.mu.Unlock()
	if !ok {
		tb.Fatalf("fakeop: no request %q", id)
	}
	data, err := json.Marshal(channel.RequestClosed{Version: channel.Version, Type: channel.RequestClosedType,
		AuthReqID: id, User: r.req.User, Reason: reason})
	if err != nil {
		tb.Fatal(err)
	}
	op.PublishRaw(tb, r.req.User, data)
}

// Forget marks the request id decided without telling anyone, as a
// decision made while a device was away.
func (op *OP) Forget(id string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	if r, ok := op.requests[id]; ok {
		r.decided = true
	}
}

// RefuseDecisions makes every later decision refused with code.
func (op *OP) RefuseDecisions(code, description string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.refusal = &channel.DecisionResult{Version: channel.Version, Error: code, ErrorDescription: description}
}

// HoldDecisions makes later decisions wait, unanswered, until release is
// called (at the latest at the end of the test).
func (op *OP) HoldDecisions(tb testing.TB) (release func()) {
	tb.Helper()
	op.mu.Lock()
	defer op.mu.Unlock()
	h := make(chan struct{})
	op.hold = h
	var once sync.Once
	release = func() {
		once.Do(func() {
			op.mu.Lock()
			if op.hold == h {
				op.hold = nil
			}
			op.mu.Unlock()
			close(h)
		})
	}
	tb.Cleanup(release)
	return release
}

// Revoke marks the device id revoked: it is disconnected, and its later
// connections and messages are refused.
func (op *OP) Revoke(id string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	if d := op.devices[id]; d != nil {
		d.Revoked = true
		op.reload()
	}
}

// Devices returns the enrolled devices.
func (op *OP) Devices() []Device {
	op.mu.Lock()
	defer op.mu.Unlock()
	var out []Device
	for _, d := range op.devices {
		out = append(out, *d)
	}
	return out
}

// Enrollments is the number of successful enrollment requests so far.
func (op *OP) Enrollments() int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.enrollments
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
	op.mu.Lock()
	ns := op.ns
	op.mu.Unlock()
	conns, err := ns.Connz(nil)
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range conns.Conns {
		if c.Cid != own {
			// A connection that closed since it was listed (an
			// enrollment's, say) is already where this leaves it.
			if err := ns.DisconnectClientByID(c.Cid); err != nil && connected(ns, c.Cid) {
				tb.Fatalf("fakeop: disconnect: %v", err)
			}
		}
	}
}

// connected reports whether the client connection cid is still open.
func connected(ns *server.Server, cid uint64) bool {
	conns, err := ns.Connz(&server.ConnzOptions{CID: cid})
	return err != nil || len(conns.Conns) > 0
}

// LockOut makes every enrollment fail as the OP does after too many wrong
// passwords.
func (op *OP) LockOut() {
	op.mu.Lock()
	defer op.mu.Unlock()
	op.lockedOut = true
}

// hello admits the nkey of an EnrollHello to enroll, as the OP does
// (without expiry or limits).
func (op *OP) hello(m *nats.Msg) {
	var in channel.EnrollHello
	if json.Unmarshal(m.Data, &in) != nil || in.Version != channel.Version || channel.ValidNKeyToken(in.NKey) != nil {
		return
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	op.hellos++
	for _, d := range op.devices {
		if d.NKey == in.NKey && !d.Revoked {
			return // already let in
		}
	}
	if !op.admitted[in.NKey] {
		op.admitted[in.NKey] = true
		op.reload()
	}
}

// Hellos is the number of enrollment hellos received so far.
func (op *OP) Hellos() int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.hellos
}

func (op *OP) enroll(source string, data []byte) any {
	fail := func(code, desc string) channel.EnrollResponse {
		return channel.EnrollResponse{Version: channel.Version, Error: code, ErrorDescription: desc}
	}
	var in channel.EnrollRequest
	if err := json.Unmarshal(data, &in); err != nil {
		return fail(channel.ErrBadMessage, "not JSON")
	}
	if in.Version != channel.Version {
		return fail(channel.ErrUnsupported, "version")
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.lockedOut {
		return fail(channel.ErrBadCredentials, "too many attempts; try again later")
	}
	want, ok := op.users[in.User]
	if !ok || in.Password != want {
		return fail(channel.ErrBadCredentials, "bad credentials")
	}
	var jwk pki.JWK
	if err := json.Unmarshal(in.DeviceKey, &jwk); err != nil || jwk.Kty != "EC" || jwk.Crv != "P-256" || jwk.Alg != "ES256" {
		return fail(channel.ErrBadMessage, "device_key")
	}
	pub, err := jwk.PublicKey()
	if err != nil || !strings.HasPrefix(in.NKey, "U") || in.NKey != source {
		return fail(channel.ErrBadMessage, "device_key or nkey")
	}
	var dev *Device
	for _, d := range op.devices {
		if d.NKey == in.NKey {
			dev = d
		}
	}
	switch {
	case dev != nil && dev.Revoked:
		return fail(channel.ErrDeviceRevoked, "revoked")
	case dev == nil:
		dev = &Device{ID: fmt.Sprintf("dev-%d", len(op.devices)+1), User: in.User, Name: in.DeviceName,
			NKey: in.NKey, KeyID: jwk.Kid, key: pub.(*ecdsa.PublicKey)}
		op.devices[dev.ID] = dev
		delete(op.admitted, in.NKey)
		op.reload()
	}
	op.enrollments++
	return channel.EnrollResponse{
		Version: channel.Version, DeviceID: dev.ID, User: dev.User,
		RequestsSubject: channel.UserRequestsSubject(op.Realm, dev.User),
		PendingSubject:  channel.DevicePendingSubject(op.Realm, dev.ID),
		DecideSubject:   channel.DeviceDecideSubject(op.Realm, dev.ID),
		InboxPrefix:     channel.DeviceInboxPrefix(op.Realm, dev.ID),
	}
}

// sender is the enrolled device a per-device subject names; the caller
// holds op.mu.
func (op *OP) sender(m *nats.Msg) (*Device, string) {
	parts := strings.Split(m.Subject, ".")
	if len(parts) != 6 {
		return nil, channel.ErrUnknownDevice
	}
	d := op.devices[parts[4]]
	switch {
	case d == nil:
		return nil, channel.ErrUnknownDevice
	case d.Revoked:
		return nil, channel.ErrDeviceRevoked
	case !strings.HasPrefix(m.Reply, channel.DeviceInboxPrefix(op.Realm, d.ID)+"."):
		return nil, channel.ErrBadMessage
	}
	return d, ""
}

func (op *OP) pending(m *nats.Msg) any {
	var in channel.PendingRequest
	if err := json.Unmarshal(m.Data, &in); err != nil || in.Version != channel.Version {
		return channel.PendingResponse{Version: channel.Version, Error: channel.ErrBadMessage}
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	d, code := op.sender(m)
	if d == nil {
		return channel.PendingResponse{Version: channel.Version, Error: code}
	}
	out := channel.PendingResponse{Version: channel.Version, Requests: []channel.AuthRequest{}}
	now := op.now().Unix()
	for _, id := range op.order {
		r := op.requests[id]
		if r.req.User == d.User && !r.decided && r.req.ExpiresAt > now {
			if op.listLimit > 0 && len(out.Requests) == op.listLimit {
				out.More = true
				break
			}
			out.Requests = append(out.Requests, r.req)
		}
	}
	return out
}

func (op *OP) decide(m *nats.Msg) any {
	refuse := func(code, desc string) channel.DecisionResult {
		return channel.DecisionResult{Version: channel.Version, Error: code, ErrorDescription: desc}
	}
	op.mu.Lock()
	h := op.hold
	op.mu.Unlock()
	if h != nil {
		<-h
	}
	var in channel.Decision
	if err := json.Unmarshal(m.Data, &in); err != nil || in.Version != channel.Version {
		return refuse(channel.ErrBadMessage, "not a version 1 decision")
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	d, code := op.sender(m)
	if d == nil {
		return refuse(code, "device")
	}
	if op.refusal != nil {
		return *op.refusal
	}
	var claims channel.DecisionClaims
	tok, err := jwt.ParseWithClaims(in.JWT, &claims, func(*jwt.Token) (any, error) { return d.key, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuedAt(), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(op.now))
	if err != nil {
		return refuse(channel.ErrBadSignature, err.Error())
	}
	kid, _ := tok.Header["kid"].(string)
	if kid != d.KeyID {
		return refuse(channel.ErrBadSignature, "kid is not the enrolled key's")
	}
	if claims.DeviceID != d.ID {
		return refuse(channel.ErrBadSignature, "device_id is not the device of the subject")
	}
	if prev, seen := op.jtis[claims.ID]; seen {
		if prev.token == in.JWT && prev.device == d.ID {
			// The same decision resent: answered as the first time.
			return prev.result
		}
		return refuse(channel.ErrReplay, "jti already used")
	}
	r, ok := op.requests[claims.AuthReqID]
	if !ok || r.req.User != d.User {
		return refuse(channel.ErrNotYourRequest, "unknown request")
	}
	if r.decided || r.req.ExpiresAt <= op.now().Unix() {
		return refuse(channel.ErrNotPending, "request is not pending")
	}
	op.jtis[claims.ID] = sent{token: in.JWT, device: d.ID, result: channel.DecisionResult{Version: channel.Version, Accepted: true}}
	r.decided = true
	dec := Decision{Claims: claims, KeyID: kid, DeviceID: d.ID, User: d.User}
	op.decisions = append(op.decisions, dec)
	// As the OP does: every device of the user is told.
	reason := channel.ClosedDenied
	if claims.Verdict == channel.VerdictApprove {
		reason = channel.ClosedApproved
	}
	if b, err := json.Marshal(channel.RequestClosed{Version: channel.Version, Type: channel.RequestClosedType,
		AuthReqID: claims.AuthReqID, User: d.User, Reason: reason, DeviceID: d.ID}); err == nil {
		op.nc.Publish(channel.UserRequestsSubject(op.Realm, d.User), b)
	}
	select {
	case op.decided <- dec:
	default:
	}
	return channel.DecisionResult{Version: channel.Version, Accepted: true}
}
