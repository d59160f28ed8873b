package optest

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

// This file holds all of optest's code for the approval channel between
// the OP and authentication devices (package github.com/cibalab/cibalab/shared/channel, whose
// doc comment describes the exchange). A device enrolls once with the
// user's password, its ES256 decision key and its NATS nkey (step 0),
// then connects with the nkey, listens for its user's requests (step 1),
// lists those still pending after a reconnection, and sends decisions
// signed with its key (step 2).

// deviceTimeout bounds one request/reply exchange when the caller's
// context has no deadline.
const deviceTimeout = 10 * time.Second

// errOffline reports a device whose connection the test dropped.
var errOffline = errors.New("optest: the device is offline (DropDeviceConnections); call ReconnectDevices")

// RefusedError is the OP's refusal of a device's decision, with the
// channel's error code (channel.ErrNotPending, channel.ErrNotYourRequest,
// ...) and its description.
type RefusedError struct {
	Code, Description string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("optest: the OP refused the decision: %s: %s", e.Code, e.Description)
}

// deviceConfig configures a device.
type deviceConfig struct {
	natsURL, realm, user, password string
	// now is the OP's clock: decisions are signed with it.
	now func() time.Time
	// onRequest receives every request announced to, or listed for, the
	// device's user. It must not block for long.
	onRequest func(channel.AuthRequest)
}

// device is a minimal authentication device: one user, one ES256 key, one
// nkey, one NATS connection.
type device struct {
	cfg  deviceConfig
	key  *ecdsa.PrivateKey
	nkey nkeys.KeyPair

	mu       sync.Mutex
	enrolled *channel.EnrollResponse
	nc       *nats.Conn
}

// newDevice creates a device with fresh keys; connect enrolls and
// connects it.
func newDevice(cfg deviceConfig) (*device, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("optest: device key: %w", err)
	}
	nk, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("optest: device nkey: %w", err)
	}
	return &device{cfg: cfg, key: key, nkey: nk}, nil
}

// connect enrolls the device unless it already is, connects with its nkey,
// subscribes to its user's requests and hands every request still pending
// to onRequest, so that nothing announced while it was offline is missed.
func (d *device) connect(ctx context.Context) error {
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
		if json.Unmarshal(m.Data, &r) == nil && r.Type == "" && r.Version == channel.Version && r.AuthReqID != "" && r.User == d.cfg.user {
			d.cfg.onRequest(r.AuthRequest)
		}
	})
	if err == nil {
		fctx, cancel := context.WithTimeout(ctx, deviceTimeout)
		err = nc.FlushWithContext(fctx)
		cancel()
	}
	if err != nil {
		nc.Close()
		return fmt.Errorf("optest: device of %s: subscribe: %w", d.cfg.user, err)
	}
	d.setConn(nc)
	pending, err := d.pending(ctx)
	if err != nil {
		return err
	}
	for _, r := range pending {
		d.cfg.onRequest(r)
	}
	return nil
}

// enroll performs step 0 once, on a connection without credentials.
func (d *device) enroll(ctx context.Context) (*channel.EnrollResponse, error) {
	d.mu.Lock()
	enr := d.enrolled
	d.mu.Unlock()
	if enr != nil {
		return enr, nil
	}
	jwk, err := pki.PublicJWK(d.key.Public(), "", "ES256")
	if err != nil {
		return nil, fmt.Errorf("optest: device key: %w", err)
	}
	rawJWK, err := json.Marshal(jwk)
	if err != nil {
		return nil, fmt.Errorf("optest: device key: %w", err)
	}
	pub, err := d.nkey.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("optest: device nkey: %w", err)
	}
	// Step 0a: over a connection without credentials, ask the OP to admit
	// the nkey; nothing is answered there.
	anon, err := nats.Connect(d.cfg.natsURL, nats.Name("optest enrollment"), nats.NoReconnect())
	if err != nil {
		return nil, fmt.Errorf("optest: device of %s: connect to NATS: %w", d.cfg.user, err)
	}
	hello, _ := json.Marshal(channel.EnrollHello{Version: channel.Version, NKey: pub})
	err = anon.Publish(channel.EnrollSubject(d.cfg.realm), hello)
	if err == nil {
		err = anon.Flush()
	}
	anon.Close()
	if err != nil {
		return nil, fmt.Errorf("optest: device of %s: enrollment hello: %w", d.cfg.user, err)
	}
	// Step 0b: enroll over the admitted nkey, replies in its own inbox.
	nc, err := d.dialNKey(ctx, nats.Name("optest enrollment"), nats.NoReconnect(),
		nats.CustomInboxPrefix(channel.EnrollInboxPrefix(d.cfg.realm, pub)))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	var resp channel.EnrollResponse
	req := channel.EnrollRequest{Version: channel.Version, User: d.cfg.user, Password: d.cfg.password,
		DeviceName: "optest", DeviceKey: rawJWK, NKey: pub}
	if err := request(ctx, nc, channel.EnrollKeySubject(d.cfg.realm, pub), req, &resp); err != nil {
		return nil, fmt.Errorf("optest: device of %s: enroll: %w", d.cfg.user, err)
	}
	switch {
	case resp.Error != "":
		return nil, fmt.Errorf("optest: device of %s: enroll: %s: %s", d.cfg.user, resp.Error, resp.ErrorDescription)
	case resp.DeviceID == "" || resp.RequestsSubject == "" || resp.PendingSubject == "" || resp.DecideSubject == "":
		return nil, fmt.Errorf("optest: device of %s: enroll: incomplete reply", d.cfg.user)
	}
	d.mu.Lock()
	d.enrolled = &resp
	d.mu.Unlock()
	return &resp, nil
}

// dial connects with the device's nkey after its enrollment.
func (d *device) dial(ctx context.Context, enr *channel.EnrollResponse) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("optest device " + enr.DeviceID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20 * time.Millisecond),
	}
	if enr.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(enr.InboxPrefix))
	}
	return d.dialNKey(ctx, opts...)
}

// dialNKey connects with the device's nkey and opts. The OP opens NATS
// to an nkey when it admits it to enroll or enrolls the device; a refusal
// before then is retried until ctx ends.
func (d *device) dialNKey(ctx context.Context, opts ...nats.Option) (*nats.Conn, error) {
	pub, err := d.nkey.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("optest: device nkey: %w", err)
	}
	opts = append(opts, nats.Nkey(pub, d.nkey.Sign))
	ctx, cancel := context.WithTimeout(ctx, deviceTimeout)
	defer cancel()
	for {
		nc, err := nats.Connect(d.cfg.natsURL, opts...)
		if err == nil {
			return nc, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("optest: device of %s: connect with its nkey: %w", d.cfg.user, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// conn returns the live connection and the enrollment, or errOffline.
func (d *device) conn() (*nats.Conn, *channel.EnrollResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nc == nil || d.enrolled == nil {
		return nil, nil, errOffline
	}
	return d.nc, d.enrolled, nil
}

// pending lists the user's pending requests (step 1, request/reply).
func (d *device) pending(ctx context.Context) ([]channel.AuthRequest, error) {
	nc, enr, err := d.conn()
	if err != nil {
		return nil, err
	}
	var resp channel.PendingResponse
	if err := request(ctx, nc, enr.PendingSubject, channel.PendingRequest{Version: channel.Version}, &resp); err != nil {
		return nil, fmt.Errorf("optest: device of %s: pending: %w", d.cfg.user, err)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("optest: device of %s: pending: %s: %s", d.cfg.user, resp.Error, resp.ErrorDescription)
	}
	return resp.Requests, nil
}

// decide sends a decision on authReqID signed with the device key (step 2)
// and returns nil once the OP accepted it, a *RefusedError when it refused.
func (d *device) decide(ctx context.Context, authReqID string, approve bool, approved []int) error {
	nc, enr, err := d.conn()
	if err != nil {
		return err
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return fmt.Errorf("optest: %w", err)
	}
	verdict := channel.VerdictDeny
	if approve {
		verdict = channel.VerdictApprove
	}
	now := d.cfg.now()
	claims := channel.DecisionClaims{
		AuthReqID: authReqID,
		Verdict:   verdict,
		DeviceID:  enr.DeviceID,
		AMR:       []string{"pwd"},
		// The authorization_details entries approved; nil for all.
		ApprovedDetails: approved,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		},
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodES256, &claims).SignedString(d.key)
	if err != nil {
		return fmt.Errorf("optest: sign decision: %w", err)
	}
	var res channel.DecisionResult
	if err := request(ctx, nc, enr.DecideSubject, channel.Decision{Version: channel.Version, JWT: token}, &res); err != nil {
		return fmt.Errorf("optest: device of %s: decide: %w", d.cfg.user, err)
	}
	switch {
	case res.Error != "":
		return &RefusedError{Code: res.Error, Description: res.ErrorDescription}
	case !res.Accepted:
		return errors.New("optest: decide: the OP's reply neither accepts nor refuses")
	}
	return nil
}

// drop closes the device's connection; connect opens a new one.
func (d *device) drop() {
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
func (d *device) setConn(nc *nats.Conn) {
	d.mu.Lock()
	old := d.nc
	d.nc = nc
	d.mu.Unlock()
	if old != nil {
		old.Close()
	}
}
