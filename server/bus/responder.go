package bus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

	"cibalab/server/op"
	"cibalab/server/state"
	"cibalab/shared/channel"
	"cibalab/shared/pki"
)

// Decider applies decisions and lists pending requests; *op.Provider
// implements it.
type Decider interface {
	Decide(ctx context.Context, user, authReqID string, v op.Verdict) error
	Pending(ctx context.Context, user string) ([]channel.AuthRequest, error)
}

// Authenticator checks a user's password; *state.Dir implements it.
type Authenticator interface {
	Authenticate(id, password string) (*state.User, error)
}

// Config configures a Responder. Zero values are the documented defaults.
type Config struct {
	// Conn is the OP's NATS connection. Required.
	Conn *nats.Conn
	// Realm names the subjects (channel.ValidRealm). Required.
	Realm string
	// Users checks sign-in passwords. Required.
	Users Authenticator
	// SessionTTL is how long a device session lasts; 0 means 12 hours.
	SessionTTL time.Duration
	// MaxDecisionAge is how old a decision's iat may be; 0 means 2 minutes.
	// It also bounds how long a jti is remembered against replay.
	MaxDecisionAge time.Duration
	// RequestTimeout bounds the handling of one message; 0 means 10 s.
	RequestTimeout time.Duration
	Now            func() time.Time
	Logger         *slog.Logger
}

// Responder serves the OP's side of the approval channel.
type Responder struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session
	jtis     map[string]time.Time // jti → when it may be forgotten
	subs     []*nats.Subscription
}

// session is a signed-in authentication device.
type session struct {
	user       string
	deviceName string
	key        *ecdsa.PublicKey
	expires    time.Time
}

// NewResponder validates cfg and returns a Responder; call Serve to start it.
func NewResponder(cfg Config) (*Responder, error) {
	if cfg.Conn == nil || cfg.Users == nil {
		return nil, errors.New("bus: Conn and Users are required")
	}
	if err := channel.ValidRealm(cfg.Realm); err != nil {
		return nil, err
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.MaxDecisionAge <= 0 {
		cfg.MaxDecisionAge = 2 * time.Minute
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Responder{cfg: cfg, log: cfg.Logger, sessions: map[string]*session{}, jtis: map[string]time.Time{}}, nil
}

// Serve subscribes to the sign-in, pending and decide subjects, in the queue
// group "cibalab-op" so that several OP replicas share the work.
func (r *Responder) Serve(d Decider) error {
	handlers := []struct {
		subject string
		handle  func(context.Context, []byte) any
	}{
		{channel.SignInSubject(r.cfg.Realm), r.signIn},
		{channel.PendingSubject(r.cfg.Realm), func(ctx context.Context, b []byte) any { return r.pending(ctx, d, b) }},
		{channel.DecideSubject(r.cfg.Realm), func(ctx context.Context, b []byte) any { return r.decide(ctx, d, b) }},
	}
	for _, h := range handlers {
		sub, err := r.cfg.Conn.QueueSubscribe(h.subject, "cibalab-op", func(m *nats.Msg) {
			if m.Reply == "" {
				r.log.Warn("channel message without reply subject dropped", "subject", m.Subject)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RequestTimeout)
			defer cancel()
			out, err := json.Marshal(h.handle(ctx, m.Data))
			if err != nil {
				r.log.Error("channel reply encoding failed", "err", err)
				return
			}
			if err := m.Respond(out); err != nil {
				r.log.Warn("channel reply failed", "subject", m.Subject, "err", err)
			}
		})
		if err != nil {
			r.Close()
			return fmt.Errorf("bus: subscribe %s: %w", h.subject, err)
		}
		r.mu.Lock()
		r.subs = append(r.subs, sub)
		r.mu.Unlock()
	}
	return r.cfg.Conn.Flush()
}

// Close unsubscribes. The connection stays open; its owner closes it.
func (r *Responder) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.subs {
		s.Unsubscribe()
	}
	r.subs = nil
}

// Announce publishes req to its user's devices (op.Announcer).
func (r *Responder) Announce(ctx context.Context, req channel.AuthRequest) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	return r.cfg.Conn.Publish(channel.UserRequestsSubject(r.cfg.Realm, req.User), b)
}

// Event publishes e for watchers (op.Announcer). Events are best effort.
func (r *Responder) Event(ctx context.Context, e channel.Event) {
	if b, err := json.Marshal(e); err == nil {
		r.cfg.Conn.Publish(channel.EventsSubject(r.cfg.Realm), b)
	}
}

// signIn checks the user's password and opens a session for the device key
// it registers.
func (r *Responder) signIn(ctx context.Context, data []byte) any {
	fail := func(code, desc string) any {
		return channel.SignInResponse{Version: channel.Version, Error: code, ErrorDescription: desc}
	}
	var in channel.SignInRequest
	if err := json.Unmarshal(data, &in); err != nil {
		r.log.Warn("sign-in refused", "reason", "not JSON")
		return fail(channel.ErrBadMessage, "the message is not valid JSON")
	}
	if in.Version != channel.Version {
		return fail(channel.ErrUnsupported, fmt.Sprintf("message version %d is not supported; this OP speaks version %d", in.Version, channel.Version))
	}
	if in.User == "" || in.Password == "" {
		return fail(channel.ErrBadMessage, "user and password are required")
	}
	var jwk pki.JWK
	if err := json.Unmarshal(in.DeviceKey, &jwk); err != nil {
		return fail(channel.ErrBadMessage, "device_key is not a JWK")
	}
	pub, err := jwk.PublicKey()
	key, ok := pub.(*ecdsa.PublicKey)
	if err != nil || !ok || key.Curve != elliptic.P256() {
		return fail(channel.ErrBadMessage, "device_key must be an EC P-256 public key")
	}
	user, err := r.cfg.Users.Authenticate(in.User, in.Password)
	if err != nil {
		if !errors.Is(err, state.ErrBadCredentials) {
			r.log.Error("sign-in failed", "err", err)
			return fail(channel.ErrInternal, "internal error")
		}
		r.log.Warn("sign-in refused", "user", in.User, "reason", "bad credentials")
		return fail(channel.ErrBadCredentials, "bad credentials")
	}
	now := r.cfg.Now()
	sid := randomID()
	s := &session{user: user.ID, deviceName: in.DeviceName, key: key, expires: now.Add(r.cfg.SessionTTL)}
	r.mu.Lock()
	r.sweepLocked(now)
	r.sessions[sid] = s
	r.mu.Unlock()
	r.log.Info("device signed in", "user", user.ID, "device", in.DeviceName, "session", shortRef(sid))
	r.Event(ctx, channel.Event{Version: channel.Version, Type: channel.EventDeviceSignedIn, Time: now.UnixMilli(), User: user.ID, Detail: in.DeviceName})
	return channel.SignInResponse{
		Version:          channel.Version,
		SessionID:        sid,
		User:             user.ID,
		RequestsSubject:  channel.UserRequestsSubject(r.cfg.Realm, user.ID),
		SessionExpiresAt: s.expires.Unix(),
	}
}

// pending lists the pending requests of the session's user.
func (r *Responder) pending(ctx context.Context, d Decider, data []byte) any {
	fail := func(code, desc string) any {
		return channel.PendingResponse{Version: channel.Version, Requests: []channel.AuthRequest{}, Error: code, ErrorDescription: desc}
	}
	var in channel.PendingRequest
	if err := json.Unmarshal(data, &in); err != nil {
		return fail(channel.ErrBadMessage, "the message is not valid JSON")
	}
	if in.Version != channel.Version {
		return fail(channel.ErrUnsupported, "unsupported message version")
	}
	s := r.session(in.SessionID)
	if s == nil {
		return fail(channel.ErrUnknownSession, "unknown or expired session; sign in again")
	}
	reqs, err := d.Pending(ctx, s.user)
	if err != nil {
		r.log.Error("pending list failed", "err", err)
		return fail(channel.ErrInternal, "internal error")
	}
	return channel.PendingResponse{Version: channel.Version, Requests: reqs}
}

// decide verifies a signed decision and applies it. Every refusal is
// logged and leaves the request untouched.
func (r *Responder) decide(ctx context.Context, d Decider, data []byte) any {
	now := r.cfg.Now()
	user := ""
	refuse := func(code, desc string) any {
		r.log.Warn("decision refused", "code", code, "user", user, "reason", desc)
		r.Event(ctx, channel.Event{Version: channel.Version, Type: channel.EventDecisionRefused, Time: now.UnixMilli(), User: user, Detail: code})
		return channel.DecisionResult{Version: channel.Version, Error: code, ErrorDescription: desc}
	}
	var in channel.Decision
	if err := json.Unmarshal(data, &in); err != nil {
		return refuse(channel.ErrBadMessage, "the message is not valid JSON")
	}
	if in.Version != channel.Version {
		return refuse(channel.ErrUnsupported, "unsupported message version")
	}
	s := r.session(in.SessionID)
	if s == nil {
		return refuse(channel.ErrUnknownSession, "unknown or expired session; sign in again")
	}
	user = s.user
	var claims channel.DecisionClaims
	_, err := jwt.ParseWithClaims(in.JWT, &claims, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithTimeFunc(r.cfg.Now),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse(channel.ErrBadSignature, "the decision does not verify with this session's device key")
	case err != nil:
		// Claims checks: exp, iat, and DecisionClaims.Validate, which
		// the JWT library calls.
		return refuse(channel.ErrBadMessage, "the decision's claims are invalid or expired")
	}
	if claims.SessionID != in.SessionID {
		return refuse(channel.ErrBadSignature, "the decision was signed for another session")
	}
	iat := claims.IssuedAt.Time
	if now.Sub(iat) > r.cfg.MaxDecisionAge {
		return refuse(channel.ErrBadMessage, "the decision is too old")
	}
	if !r.useJTI(claims.ID, now) {
		return refuse(channel.ErrReplay, "this decision was already sent")
	}
	err = d.Decide(ctx, s.user, claims.AuthReqID, op.Verdict{
		Approve: claims.Verdict == channel.VerdictApprove,
		ACR:     claims.ACR,
		AMR:     claims.AMR,
	})
	switch {
	case errors.Is(err, op.ErrNotYourRequest):
		return refuse(channel.ErrNotYourRequest, "no such request for this user")
	case errors.Is(err, op.ErrNotPending):
		return refuse(channel.ErrNotPending, "the request is no longer pending")
	case err != nil:
		r.log.Error("decision failed", "err", err)
		return refuse(channel.ErrInternal, "internal error")
	}
	r.Event(ctx, channel.Event{Version: channel.Version, Type: channel.EventDecisionAccepted, Time: now.UnixMilli(),
		ReqRef: shortRef(claims.AuthReqID), User: s.user, Detail: claims.Verdict})
	return channel.DecisionResult{Version: channel.Version, Accepted: true}
}

// session returns the live session sid, or nil.
func (r *Responder) session(sid string) *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sessions[sid]
	if s == nil || !r.cfg.Now().Before(s.expires) {
		return nil
	}
	return s
}

// useJTI records jti and reports whether it was new.
func (r *Responder) useJTI(jti string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, seen := r.jtis[jti]; seen {
		return false
	}
	r.sweepLocked(now)
	r.jtis[jti] = now.Add(2*r.cfg.MaxDecisionAge + time.Minute)
	return true
}

// sweepLocked forgets expired sessions and jtis.
func (r *Responder) sweepLocked(now time.Time) {
	for k, until := range r.jtis {
		if now.After(until) {
			delete(r.jtis, k)
		}
	}
	for k, s := range r.sessions {
		if !now.Before(s.expires) {
			delete(r.sessions, k)
		}
	}
}

func randomID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// shortRef is a short, non-reversible reference to a secret for logs.
func shortRef(secret string) string { return channel.ReqRef(secret) }
