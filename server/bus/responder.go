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

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Decider applies decisions and lists pending requests; *op.Provider
// implements it.
type Decider interface {
	Decide(ctx context.Context, user, authReqID string, v authreq.Verdict) error
	Pending(ctx context.Context, user string) ([]channel.AuthRequest, error)
}

// Authenticator checks a user's password; *registry.Dir implements it.
type Authenticator interface {
	Authenticate(id, password string) (*registry.User, error)
}

// DeviceRegistry keeps the enrolled devices; *registry.Dir implements it.
type DeviceRegistry interface {
	Devices() ([]registry.Device, error)
	Device(id string) (*registry.Device, error)
	EnrollDevice(dev registry.Device) (registry.Device, error)
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
	// DeviceLimits bounds the messages of each enrolled device; its zero
	// value is its documented defaults.
	DeviceLimits DeviceLimits
	// EventsWatched reports, cheaply, whether anybody reads the event
	// stream (Embedded.EventsWatched); when it says no, no event is
	// encoded or published. nil publishes every event.
	EventsWatched func() bool
	Now           func() time.Time
	Logger        *slog.Logger
}

// Responder serves the OP's side of the approval channel: enrollment,
// pending lists, signed decisions, announcements and events.
type Responder struct {
	cfg   Config
	log   *slog.Logger
	limit *enrollLimiter

	// rateLimited are the encoded rate_limited refusals, by verb.
	rateLimited map[string][]byte

	mu      sync.Mutex
	jtis    jtiCache // jti → what was answered, until when
	subs    []*nats.Subscription
	stop    chan struct{}
	done    chan struct{}
	decider Decider // set by Serve

	open    openRequests         // announced requests not yet closed
	tickets map[string]time.Time // nkeys admitted to enroll → until when

	syncMu  sync.Mutex                  // serialises SyncDevices
	revoked map[string]bool             // device ids seen revoked
	active  map[string]*registry.Device // last synced active devices
	lanes   map[string]*deviceLane      // per-device subscriptions while serving
	// knownNKeys are the nkeys of the active devices: their grants
	// include enrollment, so they get no ticket. (A revoked device's nkey
	// may get one, to be told device_revoked when it enrolls again.)
	knownNKeys map[string]bool
	serving    bool // Serve has started and Close not yet run
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
	cfg.DeviceLimits.defaults()
	return &Responder{cfg: cfg, log: cfg.Logger, limit: newEnrollLimiter(cfg.Enroll), jtis: newJTICache(2*cfg.MaxDecisionAge + time.Minute),
		rateLimited: rateLimitedReplies(), lanes: map[string]*deviceLane{}, open: openRequests{m: map[string]openRequest{}},
		tickets: map[string]time.Time{}, knownNKeys: map[string]bool{}}, nil
}

// Serve lets the enrolled devices in (Config.Gate), subscribes to the
// enrollment subjects (hellos, and enrollments over admitted nkeys) and
// gives every enrolled device its own
// subscriptions to its pending and decide subjects (see DeviceLimits), in
// the queue group "cibalab-op" so that several OP replicas share the work,
// and watches the registry for revocations until Close.
//
// A message is answered only at a reply subject its sender alone reads
// (enrollReplyOK, deviceReplyOK); any other is dropped with a warning, so
// that nobody can make the OP publish where they may not.
func (r *Responder) Serve(d Decider) error {
	r.mu.Lock()
	r.decider = d
	r.mu.Unlock()
	// A flooding device's queue overflowing is counted and logged by the
	// watcher (reportDropped), once a second, not once a message.
	prev := r.cfg.Conn.Opts.AsyncErrorCB
	r.cfg.Conn.SetErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) && sub != nil && strings.HasPrefix(sub.Subject, channel.Prefix+"."+r.cfg.Realm+".device.") {
			return
		}
		if prev != nil {
			prev(nc, sub, err)
			return
		}
		r.log.Warn("nats.error", "err", err)
	})
	r.syncMu.Lock()
	r.serving = true
	r.syncMu.Unlock()
	if err := r.SyncDevices(context.Background()); err != nil {
		r.Close()
		return err
	}
	hello, err := r.cfg.Conn.QueueSubscribe(channel.EnrollSubject(r.cfg.Realm), "cibalab-op", func(m *nats.Msg) {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RequestTimeout)
		defer cancel()
		r.hello(ctx, m.Data)
	})
	if err == nil {
		err = hello.SetPendingLimits(256, 256*maxHello)
	}
	if err != nil {
		r.Close()
		return fmt.Errorf("bus: subscribe %s: %w", channel.EnrollSubject(r.cfg.Realm), err)
	}
	keyPrefix := channel.EnrollKeySubject(r.cfg.Realm, "")
	// Not in the queue group: every OP sharing the NATS server receives
	// an enrollment, and only one that admitted the nkey answers, the
	// one that received its hello (tickets live in its memory) or any
	// that knows the device. So the OP that enrolls a device is the one
	// that let its nkey in, and it replaces the nkey's ticket with the
	// device's grant before it answers: no other OP still holds a
	// ticket for it (which could admit the device's next connection with
	// enrollment permissions only, through auth callout).
	sub, err := r.cfg.Conn.Subscribe(keyPrefix+"*", func(m *nats.Msg) {
		nkey := strings.TrimPrefix(m.Subject, keyPrefix)
		if !r.admitted(nkey) {
			return
		}
		if m.Reply == "" {
			r.log.Warn("channel.message_dropped", "subject", logSubject(m.Subject), "reason", "no reply subject")
			return
		}
		if !r.enrollReplyOK(nkey, m.Reply) {
			r.log.Warn("channel.message_dropped", "subject", logSubject(m.Subject), "reply", logSubject(m.Reply), "reason", "a foreign reply subject")
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RequestTimeout)
		defer cancel()
		out, err := json.Marshal(r.enroll(ctx, nkey, m.Data))
		if err != nil {
			r.log.Error("channel.reply_failed", "err", err, "reason", "encoding")
			return
		}
		if err := m.Respond(out); err != nil {
			r.log.Warn("channel.reply_failed", "subject", logSubject(m.Subject), "err", err)
		}
	})
	if err == nil {
		err = sub.SetPendingLimits(64, 1<<20)
	}
	if err != nil {
		hello.Unsubscribe()
		r.Close()
		return fmt.Errorf("bus: subscribe %s*: %w", keyPrefix, err)
	}
	r.mu.Lock()
	r.subs = append(r.subs, hello, sub)
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
	r.syncMu.Lock()
	r.serving = false
	for id, lane := range r.lanes {
		lane.close()
		delete(r.lanes, id)
	}
	r.syncMu.Unlock()
}

// watch syncs the devices every DeviceSyncInterval, and every second
// tells devices about the requests that expired and logs the messages
// NATS dropped for flooding devices, until stop closes.
func (r *Responder) watch(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(r.cfg.DeviceSyncInterval)
	defer t.Stop()
	sec := time.NewTicker(time.Second)
	defer sec.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := r.SyncDevices(context.Background()); err != nil {
				r.log.Error("channel.device_sync_failed", "err", err)
			}
		case <-sec.C:
			r.closeExpired(r.cfg.Now())
			r.reportDropped()
			r.expireTickets(r.cfg.Now())
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
	active := map[string]*registry.Device{}
	known := map[string]bool{}
	var grants []DeviceGrant
	for i := range devs {
		dev := &devs[i]
		if dev.Revoked() {
			if !r.revoked[dev.ID] && !first {
				r.log.Info("channel.device_revoked", "device", dev.ID, "user", dev.User)
				r.Event(ctx, channel.Event{Version: channel.Version, Type: channel.EventDeviceRevoked, Time: r.cfg.Now().UnixMilli(), User: dev.User, Detail: dev.ID})
			}
			r.revoked[dev.ID] = true
			continue
		}
		if channel.ValidDeviceID(dev.ID) != nil {
			r.log.Warn("channel.device_ignored", "device", dev.ID, "reason", "an invalid device id")
			continue
		}
		active[dev.ID] = dev
		known[dev.NKey] = true
		grants = append(grants, r.grant(dev))
	}
	r.knownNKeys = known
	// Admitted to enroll: an nkey may ask on its own enrollment subject
	// and read its own enrollment inbox, nothing else.
	now := r.cfg.Now()
	r.mu.Lock()
	for nk, until := range r.tickets {
		if known[nk] || !now.Before(until) {
			continue
		}
		grants = append(grants, DeviceGrant{NKey: nk,
			Publish:   []string{channel.EnrollKeySubject(r.cfg.Realm, nk)},
			Subscribe: []string{channel.EnrollInboxPrefix(r.cfg.Realm, nk) + ".>"}})
	}
	r.mu.Unlock()
	if r.serving {
		// Subscribe before the Gate lets a new device in, so that its
		// first message finds the OP listening.
		for id := range active {
			if r.lanes[id] != nil {
				continue
			}
			lane, err := r.subscribeDevice(id)
			if err != nil {
				return fmt.Errorf("bus: subscribe for device %s: %w", id, err)
			}
			r.lanes[id] = lane
		}
		for id, lane := range r.lanes {
			if active[id] == nil {
				lane.close()
				delete(r.lanes, id)
			}
		}
		if err := r.cfg.Conn.Flush(); err != nil {
			return fmt.Errorf("bus: subscribe: %w", err)
		}
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
// inboxes, and ask on its own pending, decide and enrollment subjects
// (enrolling the same keys again returns the same device).
func (r *Responder) grant(dev *registry.Device) DeviceGrant {
	realm := r.cfg.Realm
	return DeviceGrant{
		NKey: dev.NKey,
		Publish: []string{channel.DevicePendingSubject(realm, dev.ID), channel.DeviceDecideSubject(realm, dev.ID),
			channel.EnrollKeySubject(realm, dev.NKey)},
		Subscribe: []string{channel.UserRequestsSubject(realm, dev.User), channel.DeviceInboxPrefix(realm, dev.ID) + ".>",
			channel.EnrollInboxPrefix(realm, dev.NKey) + ".>"},
	}
}

// Announce publishes req to its user's devices (op.Announcer) and
// remembers it, so that its devices are told when it closes.
func (r *Responder) Announce(ctx context.Context, req channel.AuthRequest) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	r.open.add(req)
	if err := r.cfg.Conn.Publish(channel.UserRequestsSubject(r.cfg.Realm, req.User), b); err != nil {
		return err
	}
	if r.Watched() {
		now := r.cfg.Now()
		r.Event(ctx, channel.Event{Version: channel.Version, Type: channel.EventRequestAnnounced, Time: now.UnixMilli(), AtMicros: now.UnixMicro(),
			ReqRef: oauth.ReqRef(req.AuthReqID), ClientID: req.ClientID, User: req.User})
	}
	return nil
}

// Watched reports whether anybody reads the event stream
// (Config.EventsWatched): callers skip building events when not.
func (r *Responder) Watched() bool {
	return r.cfg.EventsWatched == nil || r.cfg.EventsWatched()
}

// Event publishes e for watchers, when anybody watches. Events are best
// effort.
func (r *Responder) Event(ctx context.Context, e channel.Event) {
	if !r.Watched() {
		return
	}
	if b, err := json.Marshal(e); err == nil {
		r.cfg.Conn.Publish(channel.EventsSubject(r.cfg.Realm), b)
	}
}

// Transition receives the transitions of the requests' lifecycle
// (authreq.Sink; op.Config.Transitions). It publishes those watchers know
// as events (request.created, decision.accepted, token.issued,
// request.expired), and tells the user's devices when a request closes
// (channel.RequestClosed): decided, by which device, redeemed, or expired.
func (r *Responder) Transition(ctx context.Context, e authreq.Event) {
	req := e.Request
	ref := oauth.ReqRef(req.ID)
	ev := channel.Event{Version: channel.Version, Time: e.Time.UnixMilli(), AtMicros: e.Time.UnixMicro(), ReqRef: ref, ClientID: req.ClientID, User: req.User}
	switch e.Type {
	case authreq.EventCreated:
		ev.Type = channel.EventRequestCreated
	case authreq.EventApproved, authreq.EventDenied:
		ev.Type, ev.Detail = channel.EventDecisionAccepted, channel.VerdictDeny
		reason := channel.ClosedDenied
		if e.Type == authreq.EventApproved {
			ev.Detail, reason = channel.VerdictApprove, channel.ClosedApproved
		}
		r.open.take(ref, req.User)
		r.publishClosed(req.ID, req.User, reason, req.DecidedBy)
	case authreq.EventRedeemed:
		ev.Type, ev.Detail = channel.EventTokenIssued, e.Detail
		if _, ok := r.open.take(ref, req.User); ok {
			r.publishClosed(req.ID, req.User, channel.ClosedRedeemed, "")
		}
	case authreq.EventExpired:
		ev.Type = channel.EventRequestExpired
		if _, ok := r.open.take(ref, req.User); ok {
			r.publishClosed(req.ID, req.User, channel.ClosedExpired, "")
		}
	default:
		return // polls, notification records: not on the event stream
	}
	r.Event(ctx, ev)
}

// deviceFromSubject returns the device id token of a per-device subject
// ("cibalab.v1.<realm>.device.<id>.<verb>").
func deviceFromSubject(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) != 6 {
		return ""
	}
	return parts[4]
}
