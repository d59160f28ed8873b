package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/authenticator/devicekey"
	"github.com/cibalab/cibalab/shared/channel"
)

// EnrollConfig configures [Enroll]. User, Key and NKey are required.
type EnrollConfig struct {
	// NATSURL is the NATS server the OP answers on; empty means
	// DefaultNATSURL.
	NATSURL string
	// Realm is the OP realm; empty means DefaultRealm.
	Realm string
	// User is the id of the user the device will belong to.
	User string
	// DeviceName is shown to the OP's operator; empty means
	// DefaultDeviceName.
	DeviceName string
	// Key signs the device's decisions; NKey is its NATS identity. Only
	// their public halves are sent.
	Key  *devicekey.Key
	NKey nkeys.KeyPair
	// RequestTimeout bounds the request; zero means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// NATSOptions are applied when connecting.
	NATSOptions []nats.Option
}

// Enrollment is what the OP answered to an enrollment.
type Enrollment struct {
	DeviceID        string
	User            string
	RequestsSubject string
	PendingSubject  string
	DecideSubject   string
	InboxPrefix     string
}

// Enroll registers a device with the OP (channel protocol step 0): over a
// connection without credentials it asks the OP to admit cfg.NKey for a
// while, then, connected with that nkey (so that no other connection can
// read the answer), it sends the user's password and the public halves of
// cfg.Key and cfg.NKey. Enrolling the same keys again
// returns the same device. A wrong user id or password is
// [ErrBadCredentials]; keys of a revoked device are a [*RefusedError] with
// code channel.ErrDeviceRevoked.
func Enroll(ctx context.Context, cfg EnrollConfig, password string) (Enrollment, error) {
	if cfg.NATSURL == "" {
		cfg.NATSURL = DefaultNATSURL
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if cfg.DeviceName == "" {
		cfg.DeviceName = DefaultDeviceName
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	switch {
	case channel.ValidRealm(cfg.Realm) != nil:
		return Enrollment{}, fmt.Errorf("device: %w", channel.ValidRealm(cfg.Realm))
	case cfg.User == "":
		return Enrollment{}, errors.New("device: enroll: User is required")
	case cfg.Key == nil || cfg.NKey == nil:
		return Enrollment{}, errors.New("device: enroll: Key and NKey are required")
	}
	pub, err := cfg.NKey.PublicKey()
	if err != nil {
		return Enrollment{}, fmt.Errorf("device: enroll: %w", err)
	}
	jwk, err := json.Marshal(cfg.Key.PublicJWK())
	if err != nil {
		return Enrollment{}, fmt.Errorf("device: enroll: %w", err)
	}
	nc, err := admitted(ctx, cfg, pub)
	if err != nil {
		return Enrollment{}, err
	}
	defer nc.Close()
	req := channel.EnrollRequest{Version: channel.Version, User: cfg.User, Password: password,
		DeviceName: cfg.DeviceName, DeviceKey: jwk, NKey: pub}
	var resp channel.EnrollResponse
	if err := request(ctx, nc, cfg.RequestTimeout, channel.EnrollKeySubject(cfg.Realm, pub), req, &resp); err != nil {
		return Enrollment{}, fmt.Errorf("device: enroll: %w", err)
	}
	switch {
	case resp.Error == channel.ErrBadCredentials && resp.ErrorDescription != "" && resp.ErrorDescription != "bad credentials":
		// The OP says why, e.g. that too many attempts locked the user
		// out for a while.
		return Enrollment{}, fmt.Errorf("%w (%s)", ErrBadCredentials, sanitizeDescription(resp.ErrorDescription))
	case resp.Error == channel.ErrBadCredentials:
		return Enrollment{}, ErrBadCredentials
	case resp.Error != "":
		return Enrollment{}, &RefusedError{Code: resp.Error, Description: resp.ErrorDescription}
	case resp.Version != channel.Version:
		return Enrollment{}, fmt.Errorf("device: enroll: reply version %d, want %d", resp.Version, channel.Version)
	case channel.ValidDeviceID(resp.DeviceID) != nil:
		return Enrollment{}, errors.New("device: enroll: reply without a valid device_id")
	}
	e := Enrollment{DeviceID: resp.DeviceID, User: resp.User}
	if e.User == "" {
		e.User = cfg.User
	}
	// The subjects are derived, not taken from the reply: the device
	// listens and asks only where the protocol says.
	e.RequestsSubject = channel.UserRequestsSubject(cfg.Realm, e.User)
	e.PendingSubject = channel.DevicePendingSubject(cfg.Realm, e.DeviceID)
	e.DecideSubject = channel.DeviceDecideSubject(cfg.Realm, e.DeviceID)
	e.InboxPrefix = channel.DeviceInboxPrefix(cfg.Realm, e.DeviceID)
	if resp.RequestsSubject != "" && resp.RequestsSubject != e.RequestsSubject {
		return Enrollment{}, fmt.Errorf("device: enroll: the OP names requests subject %q, want %q", resp.RequestsSubject, e.RequestsSubject)
	}
	return e, nil
}

// admitted asks the OP, over a connection without credentials, to admit
// the nkey pub to enroll (channel.EnrollHello), then connects with it,
// retrying while NATS does not know it yet, for at most
// cfg.RequestTimeout. The connection reads replies below the nkey's
// enrollment inbox, which no other connection may read.
func admitted(ctx context.Context, cfg EnrollConfig, pub string) (*nats.Conn, error) {
	base := append([]nats.Option(nil), cfg.NATSOptions...)
	anon, err := dial(ctx, cfg.NATSURL, append(base, nats.Name(cfg.DeviceName+" (enrolling)"), nats.MaxReconnects(0)))
	if err != nil {
		return nil, err
	}
	hello, err := json.Marshal(channel.EnrollHello{Version: channel.Version, NKey: pub})
	if err == nil {
		err = anon.Publish(channel.EnrollSubject(cfg.Realm), hello)
	}
	if err == nil {
		fctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
		err = anon.FlushWithContext(fctx)
		cancel()
	}
	anon.Close()
	if err != nil {
		return nil, fmt.Errorf("device: enroll: %w", err)
	}
	tctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
	defer cancel()
	opts := append(base, nats.Name(cfg.DeviceName+" (enrolling)"), nats.MaxReconnects(0),
		nats.Nkey(pub, cfg.NKey.Sign), nats.CustomInboxPrefix(channel.EnrollInboxPrefix(cfg.Realm, pub)))
	for {
		nc, err := dial(tctx, cfg.NATSURL, opts)
		switch {
		case err == nil:
			return nc, nil
		case ctx.Err() != nil:
			return nil, fmt.Errorf("device: enroll: %w", ctx.Err())
		case tctx.Err() != nil:
			return nil, errors.New("device: enroll: the OP did not admit this device's key in time (is the OP running? too many enrollments at once? try again later)")
		case !errors.Is(err, ErrDeviceRefused):
			return nil, err
		}
		select {
		case <-tctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// request sends in as JSON on subject over nc and decodes the reply into
// out, within timeout.
func request(ctx context.Context, nc *nats.Conn, timeout time.Duration, subject string, in, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, subject, data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("no OP answers on %s", subject)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer on %s: %w", subject, err)
	case err != nil:
		return err
	}
	if len(msg.Data) > maxMessage {
		return fmt.Errorf("reply on %s is too large", subject)
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("malformed reply on %s: %w", subject, err)
	}
	return nil
}

// sanitizeDescription keeps an OP-supplied description printable and short
// before it reaches a terminal.
func sanitizeDescription(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if len(out) == 120 {
			break
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}
