package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"cibalab/server/op"
	"cibalab/server/state"
	"cibalab/shared/channel"
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

// DeviceRegistry keeps the enrolled devices; *state.Dir implements it.
type DeviceRegistry interface {
	Devices() ([]state.Device, error)
	Device(id string) (*state.Device, error)
	EnrollDevice(dev state.Device) (state.Device, error)
}

// Config configures a Responder. Zero values are the documented defaults.
type Config struct {
	// Conn is the OP's NATS connection. Required.
	Conn *nats.Conn
	// Realm names the subjects (channel.ValidRealm). Required.
	Realm string
	// Users checks enrollment passwords. Required.
	Users Authenticator
	// Devices keeps the enrolled devices. Required.
	Devices DeviceRegistry
	// Gate, when set, is told the enrolled devices at Serve, after each
	// enrollment and whenever the registry changes (a revocation by
	// another process), so that NATS admits exactly them. nil (an
	// external NATS server) leaves NATS authorization to its operator;
	// the Responder still checks every message.
	Gate Gate
	// DeviceSyncInterval is how often the registry is checked for changes
	// made by another process; 0 means 1 s.
	DeviceSyncInterval time.Duration
	// MaxDecisionAge is how old a decision's iat may be; 0 means 2 minutes.
	// It also bounds how long a jti is remembered against replay.
	MaxDecisionAge time.Duration
	// RequestTimeout bounds the handling of one message; 0 means 10 s.
	RequestTimeout time.Duration
	// Enroll bounds password guessing on the enrollment subject; its
	// zero value is its documented defaults.
	Enroll EnrollLimits
	Now    func() time.Time
	Logger *slog.Logger
}

// Responder serves the OP's side of the approval channel: enrollment,
// pending lists, signed decisions, announcements and events.
type Responder struct {
	cfg   Config
	log   *slog.Logger
	limit *enrollLimiter

	mu   sync.Mutex
	jtis map[string]time.Time // jti → when it may be forgotten
	subs []*nats.Subscription
	stop chan struct{}
	done chan struct{}

	syncMu  sync.Mutex               // serialises SyncDevices
	revoked map[string]bool          // device ids seen revoked
	active  map[string]*state.Device // last synced active devices
}

// NewResponder validates cfg and returns a Responder; call Serve to start it.
func NewResponder(cfg Config) (*Responder, error) {
	if cfg.Conn == nil || cfg.Users == nil || cfg.Devices == nil {
		return nil, errors.New("bus: Conn, Users and Devices are required")
	}
	if err := channel.ValidRealm(cfg.Realm); err != nil {
		return nil, err
	}
	if cfg.DeviceSyncInterval <= 0 {
		cfg.DeviceSyncInterval = time.Second
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
	return &Responder{cfg: cfg, log: cfg.Logger, limit: newEnrollLimiter(cfg.Enroll), jtis: map[string]time.Time{}}, nil
}

// Serve lets the enrolled devices in (Config.Gate), subscribes to the
// enrollment subject and to every device's pending and decide subjects, in
// the queue group "cibalab-op" so that several OP replicas share the work,
// and watches the registry for revocations until Close.
//
// A message is answered only at a reply subject its sender alone reads
// (enrollReplyOK, deviceReplyOK); any other is dropped with a warning, so
// that nobody can make the OP publish where they may not. Each
// subscription buffers a bounded number of messages; beyond it, messages
// are dropped.
func (r *Responder) Serve(d Decider) error {
	if err := r.SyncDevices(context.Background()); err != nil {
		return err
	}
	prefix := channel.Prefix + "." + r.cfg.Realm + ".device.*."
	deviceReplyOK := func(m *nats.Msg) bool { return r.deviceReplyOK(m.Subject, m.Reply) }
	handlers := []struct {
		subject string
		replyOK func(*nats.Msg) bool
		handle  func(context.Context, *nats.Msg) any
		// pending bounds the messages waiting for this handler.
		pendingMsgs, pendingBytes int
	}{
		{channel.EnrollSubject(r.cfg.Realm), func(m *nats.Msg) bool { return enrollReplyOK(m.Reply) },
			func(ctx context.Context, m *nats.Msg) any { return r.enroll(ctx, m.Data) }, 64, 1 << 20},
		{prefix + "pending", deviceReplyOK,
			func(ctx context.Context, m *nats.Msg) any { return r.pending(ctx, d, m.Subject, m.Reply, m.Data) }, 1024, 8 << 20},
		{prefix + "decide", deviceReplyOK,
			func(ctx context.Context, m *nats.Msg) any { return r.decide(ctx, d, m.Subject, m.Reply, m.Data) }, 1024, 8 << 20},
	}
	for _, h := range handlers {
		sub, err := r.cfg.Conn.QueueSubscribe(h.subject, "cibalab-op", func(m *nats.Msg) {
			if m.Reply == "" {
				r.log.Warn("channel message without reply subject dropped", "subject", logSubject(m.Subject))
				return
			}
			if !h.replyOK(m) {
				r.log.Warn("channel message with a foreign reply subject dropped", "subject", logSubject(m.Subject), "reply", logSubject(m.Reply))
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RequestTimeout)
			defer cancel()
			out, err := json.Marshal(h.handle(ctx, m))
			if err != nil {
				r.log.Error("channel reply encoding failed", "err", err)
				return
			}
			if err := m.Respond(out); err != nil {
				r.log.Warn("channel reply failed", "subject", m.Subject, "err", err)
			}
		})
		if err == nil {
			err = sub.SetPendingLimits(h.pendingMsgs, h.pendingBytes)
		}
		if err != nil {
			r.Close()
			return fmt.Errorf("bus: subscribe %s: %w", h.subject, err)
		}
		r.mu.Lock()
		r.subs = append(r.subs, sub)
		r.mu.Unlock()
	}
	r.mu.Lock()
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	go r.watch(r.stop, r.done)
	r.mu.Unlock()
	return r.cfg.Conn.Flush()
}

// Close unsubscribes and stops watching the registry. The connection stays
// open; its owner closes it.
func (r *Responder) Close() {
	r.mu.Lock()
	for _, s := range r.subs {
		s.Unsubscribe()
	}
	r.subs = nil
	stop, done := r.stop, r.done
	r.stop, r.done = nil, nil
	r.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// watch syncs the devices every DeviceSyncInterval until stop closes.
func (r *Responder) watch(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(r.cfg.DeviceSyncInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := r.SyncDevices(context.Background()); err != nil {
				r.log.Error("device sync failed", "err", err)
			}
		}
	}
}

// SyncDevices reads the registry and hands the active devices to the
// Gate, which disconnects the revoked ones. It publishes a device.revoked
// event for each revocation it sees first. Serve calls it, then the
// watcher every DeviceSyncInterval; call it to apply a change at once.
func (r *Responder) SyncDevices(ctx context.Context) error {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	devs, err := r.cfg.Devices.Devices()
	if err != nil {
		return fmt.Errorf("bus: devices: %w", err)
	}
	first := r.revoked == nil
	if first {
		r.revoked = map[string]bool{}
	}
	active := map[string]*state.Device{}
	var grants []DeviceGrant
	for i := range devs {
		dev := &devs[i]
		if dev.Revoked() {
			if !r.revoked[dev.ID] && !first {
				r.log.Info("device revoked", "device", dev.ID, "user", dev.User)
				r.Event(ctx, channel.Event{Version: channel.Version, Type: channel.EventDeviceRevoked, Time: r.cfg.Now().UnixMilli(), User: dev.User, Detail: dev.ID})
			}
			r.revoked[dev.ID] = true
			continue
		}
		if channel.ValidDeviceID(dev.ID) != nil {
			r.log.Warn("device with an invalid id ignored", "device", dev.ID)
			continue
		}
		active[dev.ID] = dev
		grants = append(grants, r.grant(dev))
	}
	if r.cfg.Gate != nil {
		if err := r.cfg.Gate.SetDevices(grants); err != nil {
			return err
		}
	}
	r.active = active
	return nil
}

// grant is what dev may do on NATS: read its user's requests and its own
// inbox, and ask on its own pending and decide subjects.
func (r *Responder) grant(dev *state.Device) DeviceGrant {
	realm := r.cfg.Realm
	return DeviceGrant{
		NKey:      dev.NKey,
		Publish:   []string{channel.DevicePendingSubject(realm, dev.ID), channel.DeviceDecideSubject(realm, dev.ID)},
		Subscribe: []string{channel.UserRequestsSubject(realm, dev.User), channel.DeviceInboxPrefix(realm, dev.ID) + ".>"},
	}
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

// shortRef is a short, non-reversible reference to a secret for logs.
func shortRef(secret string) string { return channel.ReqRef(secret) }

// deviceFromSubject returns the device id token of a per-device subject
// ("cibalab.v1.<realm>.device.<id>.<verb>").
func deviceFromSubject(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) != 6 {
		return ""
	}
	return parts[4]
}
