package bus

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/shared/channel"
)

// AuthCalloutSubject is where a NATS server configured with auth callout
// asks who may connect (nats-server 2.10+, authorization { auth_callout }).
const AuthCalloutSubject = "$SYS.REQ.USER.AUTH"

// DefaultCalloutTTL is how long the user JWT a Callout issues stays valid
// when CalloutConfig.TTL is 0: the server then disconnects the device,
// which reconnects and is asked about again, so a revoked device is out
// within this time.
const DefaultCalloutTTL = 2 * time.Minute

// CalloutConfig configures a Callout. Zero values are the documented
// defaults.
type CalloutConfig struct {
	// Conn is the OP's connection, as one of the server's auth_users
	// (which bypass the callout). Required.
	Conn *nats.Conn
	// Issuer is the account key pair whose public key is the issuer in
	// the server's auth_callout block; it signs the answers. Required.
	Issuer nkeys.KeyPair
	// Account is the account the devices join; "" means "$G", the
	// global account of a server configured without accounts.
	Account string
	// TTL bounds the user JWTs issued; 0 means DefaultCalloutTTL.
	TTL    time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// Callout admits connections to an external NATS server (or cluster)
// through auth callout, with the permissions the embedded server's
// authenticator gives (bus/auth.go): an enrolled device, or an nkey
// admitted to enroll, by its user nkey and its signature of the server's
// nonce (the server must send one: Options.AlwaysEnableNonce when embedded,
// or an nkey user in its configuration file; docs/deployment.md), with the
// permissions of its DeviceGrant; a connection without credentials may
// only publish an EnrollHello. It implements Gate.
//
// A Callout answers only for the connections it knows: several OPs each
// run one (not in a queue group), every one knows the enrolled devices
// (the registry is shared), but an nkey admitted to enroll is known only
// to the OP that received its EnrollHello. A connection no OP admits gets
// no answer, and the server refuses it after its authorization timeout; a
// wrong signature is refused at once.
type Callout struct {
	cfg     CalloutConfig
	account string

	mu    sync.Mutex
	perms map[string]DeviceGrant // nkey → grant
	sub   *nats.Subscription
}

// NewCallout checks cfg and returns a Callout; Start subscribes.
func NewCallout(cfg CalloutConfig) (*Callout, error) {
	if cfg.Conn == nil || cfg.Issuer == nil {
		return nil, errors.New("bus: CalloutConfig needs Conn and Issuer")
	}
	pub, err := cfg.Issuer.PublicKey()
	if err != nil || !nkeys.IsValidPublicAccountKey(pub) {
		return nil, errors.New("bus: the auth callout issuer must be an account nkey (seed SA...)")
	}
	if _, err := cfg.Issuer.Seed(); err != nil {
		return nil, errors.New("bus: the auth callout issuer needs its seed to sign")
	}
	c := &Callout{cfg: cfg, account: cfg.Account, perms: map[string]DeviceGrant{}}
	if c.account == "" {
		c.account = "$G"
	}
	if c.cfg.TTL <= 0 {
		c.cfg.TTL = DefaultCalloutTTL
	}
	if c.cfg.Now == nil {
		c.cfg.Now = time.Now
	}
	if c.cfg.Logger == nil {
		c.cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Start subscribes to AuthCalloutSubject.
func (c *Callout) Start() error {
	sub, err := c.cfg.Conn.Subscribe(AuthCalloutSubject, c.handle)
	if err != nil {
		return fmt.Errorf("bus: auth callout: %w", err)
	}
	if err := c.cfg.Conn.Flush(); err != nil {
		sub.Unsubscribe()
		return fmt.Errorf("bus: auth callout: %w", err)
	}
	c.mu.Lock()
	c.sub = sub
	c.mu.Unlock()
	return nil
}

// Close stops answering.
func (c *Callout) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sub != nil {
		c.sub.Unsubscribe()
		c.sub = nil
	}
}

// SetDevices implements Gate: grants replaces the nkeys admitted. A
// device left out is refused from its next connection, at the latest
// when its user JWT expires (CalloutConfig.TTL).
func (c *Callout) SetDevices(grants []DeviceGrant) error {
	m := make(map[string]DeviceGrant, len(grants))
	for _, g := range grants {
		m[g.NKey] = g
	}
	c.mu.Lock()
	c.perms = m
	c.mu.Unlock()
	return nil
}

// handle answers one authorization request, or stays silent when the
// connection is not this OP's to admit.
func (c *Callout) handle(m *nats.Msg) {
	if m.Header.Get("Nats-Server-Xkey") != "" {
		c.cfg.Logger.Warn("callout.request_dropped", "reason", "encrypted requests (xkey) are not supported; drop xkey from auth_callout")
		return
	}
	req, err := jwt.DecodeAuthorizationRequestClaims(string(m.Data))
	if err != nil {
		c.cfg.Logger.Warn("callout.request_dropped", "reason", "malformed", "err", err)
		return
	}
	grant, verdict := c.decide(req)
	switch verdict {
	case calloutSilent:
		return
	case calloutRefuse:
		c.respond(m, req, "", "not authorized")
		c.cfg.Logger.Info("callout.refused", "host", req.ClientInformation.Host, "reason", "a wrong nonce signature")
		return
	}
	uc := jwt.NewUserClaims(req.UserNkey)
	uc.Audience = c.account
	uc.Name = req.ConnectOptions.Name
	uc.Expires = c.cfg.Now().Add(c.cfg.TTL).Unix()
	uc.Pub.Allow.Add(grant.Publish...)
	if len(grant.Publish) == 0 {
		uc.Pub.Deny.Add(">")
	}
	uc.Sub.Allow.Add(grant.Subscribe...)
	if len(grant.Subscribe) == 0 {
		uc.Sub.Deny.Add(">")
	}
	ujwt, err := uc.Encode(c.cfg.Issuer)
	if err != nil {
		c.cfg.Logger.Error("callout.sign_failed", "what", "user JWT", "err", err)
		return
	}
	c.respond(m, req, ujwt, "")
}

type calloutVerdict int

const (
	calloutSilent calloutVerdict = iota // not this OP's to decide
	calloutRefuse
	calloutAdmit
)

// decide returns the grant of the connection req describes.
func (c *Callout) decide(req *jwt.AuthorizationRequestClaims) (DeviceGrant, calloutVerdict) {
	o := req.ConnectOptions
	switch {
	case o.Nkey != "":
		if !validNonceSig(o.Nkey, o.SignedNonce, req.ClientInformation.Nonce) {
			return DeviceGrant{}, calloutRefuse
		}
		c.mu.Lock()
		g, ok := c.perms[o.Nkey]
		c.mu.Unlock()
		if !ok {
			return DeviceGrant{}, calloutSilent
		}
		return g, calloutAdmit
	case o.JWT != "" || o.Token != "" || o.Username != "" || o.Password != "":
		return DeviceGrant{}, calloutSilent
	}
	// No credentials: an EnrollHello, and nothing else.
	return DeviceGrant{Publish: []string{channel.EnrollSubject("*")}}, calloutAdmit
}

// validNonceSig reports whether sig is nkey's signature of the server's
// nonce (what nats-server checks for configured nkeys).
func validNonceSig(nkey, sig, nonce string) bool {
	if !nkeys.IsValidPublicUserKey(nkey) || nonce == "" {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(sig); err != nil {
			return false
		}
	}
	pub, err := nkeys.FromPublicKey(nkey)
	return err == nil && pub.Verify([]byte(nonce), raw) == nil
}

// respond answers req with the user JWT ujwt, or with errMsg.
func (c *Callout) respond(m *nats.Msg, req *jwt.AuthorizationRequestClaims, ujwt, errMsg string) {
	rc := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	rc.Audience = req.Server.ID
	rc.Jwt = ujwt
	rc.Error = errMsg
	token, err := rc.Encode(c.cfg.Issuer)
	if err != nil {
		c.cfg.Logger.Error("callout.sign_failed", "what", "response", "err", err)
		return
	}
	if err := m.Respond([]byte(token)); err != nil {
		c.cfg.Logger.Warn("callout.respond_failed", "err", err)
	}
}
