package simdevice

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/pki"
)

// deviceTimeout bounds one request/reply exchange when the caller's
// context has no deadline.
const deviceTimeout = 10 * time.Second

// ErrOffline reports a device whose connection was dropped (Drop) and
// not connected again.
var ErrOffline = errors.New("the authentication device is offline (its connection was dropped); reconnect it first")

// RefusedError is the OP's refusal of a device's decision, with the
// channel's error code (channel.ErrNotPending, channel.ErrNotYourRequest,
// ...) and its description.
type RefusedError struct {
	Code, Description string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the OP refused the decision: %s: %s", e.Code, e.Description)
}

// Config configures a Device.
type Config struct {
	// NATSURL is the OP's NATS server and Realm the issuer's realm.
	NATSURL, Realm string
	// User is the device's user; Password is theirs, for the channel's
	// enrollment (step 0), unless Enroll is set.
	User, Password string
	// Name is the device name the OP records; "" means "simdevice".
	Name string
	// Now is the OP's clock: decisions are signed with it. nil means
	// time.Now.
	Now func() time.Time
	// OnRequest receives every request announced to, or listed for, the
	// device's user (at Connect and after each reconnection, so a request
	// may come more than once, from different goroutines). It must not
	// block for long. nil ignores them.
	OnRequest func(channel.AuthRequest)
	// Enroll, when set, replaces the enrollment over NATS with the
	// user's password: it registers the device's public keys itself (as
	// an administrator of the OP may, registry.Dir.EnrollDevice) and
	// returns the subjects the OP would have answered.
	Enroll func(ctx context.Context, keys Keys) (*channel.EnrollResponse, error)
}

// Keys are the public keys of a device: its ES256 decision key as a JWK
// and its NATS user nkey.
type Keys struct {
	JWK  pki.JWK
	NKey string
}

// Device is a minimal authentication device: one user, one ES256 key, one
// nkey, one NATS connection. Its methods are safe for concurrent use.
type Device struct {
	cfg  Config
	key  *ecdsa.PrivateKey
	nkey nkeys.KeyPair

	mu       sync.Mutex
	enrolled *channel.EnrollResponse
	nc       *nats.Conn
}

// New creates a device with fresh keys; Connect enrolls and connects it.
func New(cfg Config) (*Device, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnRequest == nil {
		cfg.OnRequest = func(channel.AuthRequest) {}
	}
	if cfg.Name == "" {
		cfg.Name = "simdevice"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("simdevice: device key: %w", err)
	}
	nk, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("simdevice: device nkey: %w", err)
	}
	return &Device{cfg: cfg, key: key, nkey: nk}, nil
}

// Connect enrolls the device unless it already is, connects with its nkey,
// subscribes to its user's requests and hands every request still pending
// to OnRequest, so that nothing announced while it was offline is missed.
func (d *Device) Connect(ctx context.Context) error {
	enr, err := d.enroll(ctx)
	if err != nil {
		return err
	}
	nc, err := d.dial(ctx, enr)
	if err != nil {
		return err
	}
	_, err = nc.Subscribe(enr.RequestsSubject, func(m *nats.Msg) {
		// A message with a type (channel.RequestClosed) is not a request.
		var r struct {
			channel.AuthRequest
			Type string `json:"type"`
		}
		if json.Unmarshal(m.Data, &r) == nil && r.Type == "" && r.Version == channel.Version && r.AuthReqID != "" && r.User == d.cfg.User {
			d.cfg.OnRequest(r.AuthRequest)
		}
	})
	if err == nil {
		fctx, cancel := context.WithTimeout(ctx, deviceTimeout)
		err = nc.FlushWithContext(fctx)
		cancel()
	}
	if err != nil {
		nc.Close()
		return fmt.Errorf("simdevice: device of %s: subscribe: %w", d.cfg.User, err)
	}
	d.setConn(nc)
	pending, err := d.Pending(ctx)
	if err != nil {
		return err
	}
	for _, r := range pending {
		d.cfg.OnRequest(r)
	}
	return nil
}

// enroll performs step 0 once, on a connection without credentials.
func (d *Device) enroll(ctx context.Context) (*channel.EnrollResponse, error) {
	d.mu.Lock()
	enr := d.enrolled
	d.mu.Unlock()
	if enr != nil {
		return enr, nil
	}
	jwk, err := pki.PublicJWK(d.key.Public(), "", "ES256")
	if err != nil {
		return nil, fmt.Errorf("simdevice: device key: %w", err)
	}
	rawJWK, err := json.Marshal(jwk)
	if err != nil {
		return nil, fmt.Errorf("simdevice: device key: %w", err)
	}
	pub, err := d.nkey.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("simdevice: device nkey: %w", err)
	}
	if d.cfg.Enroll != nil {
		resp, err := d.cfg.Enroll(ctx, Keys{JWK: jwk, NKey: pub})
		if err != nil {
			return nil, fmt.Errorf("simdevice: device of %s: enroll: %w", d.cfg.User, err)
		}
		return d.enrolledAs(resp)
	}
	// Step 0a: over a connection without credentials, ask the OP to admit
	// the nkey; nothing is answered there.
	anon, err := nats.Connect(d.cfg.NATSURL, nats.Name("simdevice enrollment"), nats.NoReconnect())
	if err != nil {
		return nil, fmt.Errorf("simdevice: device of %s: connect to NATS: %w", d.cfg.User, err)
	}
	hello, _ := json.Marshal(channel.EnrollHello{Version: channel.Version, NKey: pub})
	err = anon.Publish(channel.EnrollSubject(d.cfg.Realm), hello)
	if err == nil {
		err = anon.Flush()
	}
	anon.Close()
	if err != nil {
		return nil, fmt.Errorf("simdevice: device of %s: enrollment hello: %w", d.cfg.User, err)
	}
	// Step 0b: enroll over the admitted nkey, replies in its own inbox.
	nc, err := d.dialNKey(ctx, nats.Name("simdevice enrollment"), nats.NoReconnect(),
		nats.CustomInboxPrefix(channel.EnrollInboxPrefix(d.cfg.Realm, pub)))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	var resp channel.EnrollResponse
	req := channel.EnrollRequest{Version: channel.Version, User: d.cfg.User, Password: d.cfg.Password,
		DeviceName: d.cfg.Name, DeviceKey: rawJWK, NKey: pub}
	if err := request(ctx, nc, channel.EnrollKeySubject(d.cfg.Realm, pub), req, &resp); err != nil {
		return nil, fmt.Errorf("simdevice: device of %s: enroll: %w", d.cfg.User, err)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("simdevice: device of %s: enroll: %s: %s", d.cfg.User, resp.Error, resp.ErrorDescription)
	}
	return d.enrolledAs(&resp)
}

// enrolledAs records a complete enrollment.
func (d *Device) enrolledAs(resp *channel.EnrollResponse) (*channel.EnrollResponse, error) {
	if resp == nil || resp.DeviceID == "" || resp.RequestsSubject == "" || resp.PendingSubject == "" || resp.DecideSubject == "" {
		return nil, fmt.Errorf("simdevice: device of %s: enroll: incomplete reply", d.cfg.User)
	}
	d.mu.Lock()
	d.enrolled = resp
	d.mu.Unlock()
	return resp, nil
}

// ID is the device id the OP gave it, "" before its enrollment.
func (d *Device) ID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.enrolled == nil {
		return ""
	}
	return d.enrolled.DeviceID
}

// Online reports whether the device is connected (Connect, and no Drop
// since).
func (d *Device) Online() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nc != nil
}

// dial connects with the device's nkey after its enrollment.
func (d *Device) dial(ctx context.Context, enr *channel.EnrollResponse) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("simdevice " + enr.DeviceID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20 * time.Millisecond),
		// As ciba-authenticator does: what was announced while the
		// connection was down (its NATS node lost, say) is listed again.
		nats.ReconnectHandler(func(*nats.Conn) { go d.relist() }),
	}
	if enr.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(enr.InboxPrefix))
	}
	return d.dialNKey(ctx, opts...)
}

// dialNKey connects with the device's nkey and opts. The OP opens NATS
// to an nkey when it admits it to enroll or enrolls the device; a refusal
// before then is retried until ctx ends.
func (d *Device) dialNKey(ctx context.Context, opts ...nats.Option) (*nats.Conn, error) {
	pub, err := d.nkey.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("simdevice: device nkey: %w", err)
	}
	opts = append(opts, nats.Nkey(pub, d.nkey.Sign))
	ctx, cancel := context.WithTimeout(ctx, deviceTimeout)
	defer cancel()
	for {
		nc, err := nats.Connect(d.cfg.NATSURL, opts...)
		if err == nil {
			return nc, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("simdevice: device of %s: connect with its nkey: %w", d.cfg.User, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// relist hands every request still pending to OnRequest, after a
// reconnection.
func (d *Device) relist() {
	ctx, cancel := context.WithTimeout(context.Background(), deviceTimeout)
	defer cancel()
	pending, err := d.Pending(ctx)
	if err != nil {
		return // offline again, or dropped: the next reconnection lists
	}
	for _, r := range pending {
		d.cfg.OnRequest(r)
	}
}

// conn returns the live connection and the enrollment, or errOffline.
func (d *Device) conn() (*nats.Conn, *channel.EnrollResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nc == nil || d.enrolled == nil {
		return nil, nil, ErrOffline
	}
	return d.nc, d.enrolled, nil
}

// Pending lists the user's pending requests (step 1, request/reply).
func (d *Device) Pending(ctx context.Context) ([]channel.AuthRequest, error) {
	nc, enr, err := d.conn()
	if err != nil {
		return nil, err
	}
	var resp channel.PendingResponse
	if err := request(ctx, nc, enr.PendingSubject, channel.PendingRequest{Version: channel.Version}, &resp); err != nil {
		return nil, fmt.Errorf("simdevice: device of %s: pending: %w", d.cfg.User, err)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("simdevice: device of %s: pending: %s: %s", d.cfg.User, resp.Error, resp.ErrorDescription)
	}
	return resp.Requests, nil
}

// Decide sends a decision on authReqID signed with the device key
// (step 2, CIBA Core 1.0 §8) and returns nil once the OP accepted it, a
// *RefusedError when it refused, ErrOffline after Drop. approved names the
// authorization_details entries approved, by index (RFC 9396); nil approves
// them all.
func (d *Device) Decide(ctx context.Context, authReqID string, approve bool, approved []int) error {
	nc, enr, err := d.conn()
	if err != nil {
		return err
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return fmt.Errorf("simdevice: %w", err)
	}
	verdict := channel.VerdictDeny
	if approve {
		verdict = channel.VerdictApprove
	}
	now := d.cfg.Now()
	claims := channel.DecisionClaims{
		AuthReqID: authReqID,
		Verdict:   verdict,
		DeviceID:  enr.DeviceID,
		AMR:       []string{"pwd"},
		// The authorization_details entries approved (RFC 9396); nil for
		// all of them.
		ApprovedDetails: approved,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		},
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodES256, &claims).SignedString(d.key)
	if err != nil {
		return fmt.Errorf("simdevice: sign decision: %w", err)
	}
	var res channel.DecisionResult
	if err := request(ctx, nc, enr.DecideSubject, channel.Decision{Version: channel.Version, JWT: token}, &res); err != nil {
		return fmt.Errorf("simdevice: device of %s: decide: %w", d.cfg.User, err)
	}
	switch {
	case res.Error != "":
		return &RefusedError{Code: res.Error, Description: res.ErrorDescription}
	case !res.Accepted:
		return errors.New("simdevice: decide: the OP's reply neither accepts nor refuses")
	}
	return nil
}

// Drop closes the device's connection, as if the phone lost the network;
// Connect opens a new one.
func (d *Device) Drop() {
	d.setConn(nil)
}

// request sends in on subject and decodes the reply into out. While the OP
// has no subscriber on subject (its own connection is reconnecting), it
// retries until ctx ends.
func request(ctx context.Context, nc *nats.Conn, subject string, in, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, deviceTimeout)
	defer cancel()
	for {
		msg, err := nc.RequestWithContext(ctx, subject, data)
		if errors.Is(err, nats.ErrNoResponders) {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(5 * time.Millisecond):
				continue
			}
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(msg.Data, out); err != nil {
			return fmt.Errorf("reply is not JSON: %w", err)
		}
		return nil
	}
}

// setConn makes nc the device's connection (nil for none) and closes the
// one it replaces.
func (d *Device) setConn(nc *nats.Conn) {
	d.mu.Lock()
	old := d.nc
	d.nc = nc
	d.mu.Unlock()
	if old != nil {
		old.Close()
	}
}
