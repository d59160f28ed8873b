package device

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/cibalab/cibalab/authenticator/devicekey"
	"github.com/cibalab/cibalab/shared/channel"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Defaults used for the zero values of [Config].
const (
	DefaultNATSURL        = "nats://127.0.0.1:4222"
	DefaultRealm          = "master"
	DefaultDeviceName     = "ciba-authenticator"
	DefaultRequestTimeout = 5 * time.Second
)

// DefaultDecisionLifetime is the default time between the iat and exp
// claims of a decision JWT: how long Decide keeps trying to deliver it.
const DefaultDecisionLifetime = 30 * time.Second

// Credentials are what an enrolled device connects with: its id and user,
// its decision key and its NATS nkey (see github.com/cibalab/cibalab/authenticator/devicedir).
type Credentials struct {
	DeviceID string
	User     string
	Key      *devicekey.Key
	NKey     nkeys.KeyPair
}

// Config configures [Connect]. Credentials is required.
type Config struct {
	// NATSURL is the NATS server the OP answers on; empty means
	// DefaultNATSURL.
	NATSURL string
	// Realm is the OP realm; empty means DefaultRealm. It must be a valid
	// channel realm (channel.ValidRealm).
	Realm string
	// Credentials identify the enrolled device.
	Credentials Credentials
	// DeviceName names the NATS connection; empty means DefaultDeviceName.
	DeviceName string
	// RequestTimeout bounds each request/reply with the OP (a shorter
	// context deadline wins); zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// DecisionLifetime is the time between the iat and exp claims of a
	// decision JWT, within which Decide tries to deliver it; zero means
	// DefaultDecisionLifetime.
	DecisionLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the device's logs; nil discards them.
	Logger *slog.Logger
	// NATSOptions are applied when connecting, before the device's own
	// credentials, inbox, name, reconnect, disconnect and closed handlers,
	// which replace any given here.
	NATSOptions []nats.Option
}

func (c Config) withDefaults() (Config, error) {
	if c.NATSURL == "" {
		c.NATSURL = DefaultNATSURL
	}
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if err := channel.ValidRealm(c.Realm); err != nil {
		return c, fmt.Errorf("device: %w", err)
	}
	cr := c.Credentials
	switch {
	case cr.User == "":
		return c, errors.New("device: Credentials.User is required")
	case channel.ValidDeviceID(cr.DeviceID) != nil:
		return c, errors.New("device: Credentials.DeviceID is not a valid device id")
	case cr.Key == nil || cr.NKey == nil:
		return c, errors.New("device: Credentials.Key and NKey are required")
	}
	if c.DeviceName == "" {
		c.DeviceName = DefaultDeviceName
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.DecisionLifetime <= 0 {
		c.DecisionLifetime = DefaultDecisionLifetime
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

// Device is a connected, enrolled authentication device. Its methods are
// safe for concurrent use.
type Device struct {
	cfg Config
	log *slog.Logger
	nc  *nats.Conn

	pendingSubject string
	decideSubject  string

	msgs        chan *nats.Msg
	reconnected chan struct{}
	// dropped tells the pump that NATS dropped messages of the device's
	// subscription (a slow consumer): announcements may be lost.
	dropped    chan struct{}
	closed     chan struct{}
	closedOnce sync.Once
	out        chan channel.AuthRequest
	closures   chan Closure

	// ctx is the device's own lifecycle, cancelled by Close.
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// Connect connects to the OP's NATS server with the device's nkey,
// subscribes to its user's requests and fetches those still pending
// (channel protocol steps 1 and 2). NATS refusing the credentials (the
// device was revoked, or enrolled with another OP) is [ErrDeviceRefused];
// a refusal by the OP is a [*RefusedError].
func Connect(ctx context.Context, cfg Config) (*Device, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cr := cfg.Credentials
	pub, err := cr.NKey.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	d := &Device{
		cfg:            cfg,
		log:            cfg.Logger,
		pendingSubject: channel.DevicePendingSubject(cfg.Realm, cr.DeviceID),
		decideSubject:  channel.DeviceDecideSubject(cfg.Realm, cr.DeviceID),
		msgs:           make(chan *nats.Msg, 256),
		reconnected:    make(chan struct{}, 1),
		dropped:        make(chan struct{}, 1),
		closed:         make(chan struct{}),
		out:            make(chan channel.AuthRequest),
		closures:       make(chan Closure, 16),
		done:           make(chan struct{}),
	}
	opts := append(append([]nats.Option(nil), cfg.NATSOptions...),
		nats.Nkey(pub, cr.NKey.Sign),
		nats.CustomInboxPrefix(channel.DeviceInboxPrefix(cfg.Realm, cr.DeviceID)),
		nats.Name(cfg.DeviceName),
		nats.MaxReconnects(-1),
		// Nothing is buffered while reconnecting: a publish then fails at
		// once, so a decision reported as not sent is never sent later.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil when the device closes the connection
				d.log.Warn("nats.disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			d.log.Info("nats.reconnected", "url", nc.ConnectedUrlRedacted())
			select {
			case d.reconnected <- struct{}{}:
			default: // a refresh is already due
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				select {
				case d.dropped <- struct{}{}:
				default: // a list is already due
				}
				return
			}
			d.log.Warn("nats.error", "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			d.closedOnce.Do(func() { close(d.closed) })
		}),
	)
	if d.nc, err = dial(ctx, cfg.NATSURL, opts); err != nil {
		return nil, err
	}
	subject := channel.UserRequestsSubject(cfg.Realm, cr.User)
	if _, err := d.nc.ChanSubscribe(subject, d.msgs); err != nil {
		d.nc.Close()
		return nil, fmt.Errorf("device: subscribe: %w", err)
	}
	fctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
	err = d.nc.FlushWithContext(fctx)
	cancel()
	if err != nil {
		d.nc.Close()
		return nil, fmt.Errorf("device: subscribe: %w", err)
	}
	initial, more, err := d.pending(ctx)
	if err != nil {
		d.nc.Close()
		return nil, err
	}
	d.log.Info("device.connected", "device", cr.DeviceID, "user", cr.User, "realm", cfg.Realm, "kid", cr.Key.KeyID())
	d.ctx, d.cancel = context.WithCancel(context.Background())
	go d.pump(initial, more)
	return d, nil
}

// dial connects to url, giving up when ctx ends.
func dial(ctx context.Context, url string, opts []nats.Option) (*nats.Conn, error) {
	type result struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(url, opts...)
		ch <- result{nc, err}
	}()
	select {
	case r := <-ch:
		if errors.Is(r.err, nats.ErrAuthorization) || errors.Is(r.err, nats.ErrAuthExpired) || errors.Is(r.err, nats.ErrAuthRevoked) {
			return nil, ErrDeviceRefused
		}
		if r.err != nil {
			return nil, fmt.Errorf("device: connect to NATS: %w", r.err)
		}
		return r.nc, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("device: connect to NATS: %w", ctx.Err())
	}
}

// Requests delivers the user's authentication requests, each auth_req_id
// once: the pending ones first, then each one the OP announces. After a
// NATS reconnect the pending list is fetched again and anything new is
// delivered. The channel is closed by Close, or when the NATS connection
// is closed for good.
func (d *Device) Requests() <-chan channel.AuthRequest { return d.out }

// User is the user the device belongs to.
func (d *Device) User() string { return d.cfg.Credentials.User }

// ID is the device id the OP gave at enrollment.
func (d *Device) ID() string { return d.cfg.Credentials.DeviceID }

// KeyID is the kid of the device's decision key.
func (d *Device) KeyID() string { return d.cfg.Credentials.Key.KeyID() }

// Refused reports whether NATS refused the device's credentials after it
// had connected (it was revoked): the connection then closes for good.
func (d *Device) Refused() bool {
	err := d.nc.LastError()
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthRevoked)
}

// Connected reports whether the NATS connection is up: false while it
// reconnects.
func (d *Device) Connected() bool { return d.nc.IsConnected() }

// Close stops delivering requests and closes the NATS connection. It is
// safe to call more than once.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.cancel()
		d.nc.Close()
		<-d.done
	})
	return nil
}
