package bus

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// opUser is the NATS user of the OP's own connection on the embedded server.
const opUser = "cibalab-op"

// Resource limits of the embedded server. Connections without credentials
// are anonymous, so every resource they can hold is bounded: the number of
// connections, the subscriptions of each connection and the bytes the
// server buffers for a connection that reads slowly.
const (
	// MaxConnections is the most client connections the server accepts.
	MaxConnections = 1024
	// MaxSubscriptions is the most subscriptions one connection may hold;
	// the server refuses more with "maximum subscriptions exceeded". The
	// OP's connection needs a handful, a device two.
	MaxSubscriptions = 100
	// MaxPendingBytes is the most bytes the server buffers for one
	// connection before it closes it as a slow consumer.
	MaxPendingBytes = 4 << 20
)

// DeviceGrant is what one enrolled device may do on NATS: it
// authenticates with the public user nkey NKey (the server checks a
// signature of its nonce, the seed never leaves the device) and may
// publish and subscribe only on the listed subjects.
type DeviceGrant struct {
	NKey      string
	Publish   []string
	Subscribe []string
}

// Gate decides who may connect to NATS and what they may do; *Embedded
// implements it. SetDevices replaces the set of enrolled devices: a device
// left out is disconnected and refused from then on.
type Gate interface {
	SetDevices(grants []DeviceGrant) error
}

// Embedded is a nats-server running inside the OP's process, closed by
// default.
//
// The OP's connection (ConnectOP) authenticates with a password generated
// at start and held only in memory, and may do everything. Each enrolled
// device authenticates with its own nkey and gets the permissions of its
// DeviceGrant (see SetDevices). A connection without credentials may only
// publish an EnrollHello on the enrollment subject of any realm, and
// subscribe to nothing, so it reads no authentication request, no event
// and no reply at all; it publishes nothing else. The nkey it names is
// then admitted for a short while to enroll on subjects only that nkey may
// use (Responder). Wrong credentials are refused at connect time.
// Connections, subscriptions per connection and buffered bytes are bounded
// (MaxConnections, MaxSubscriptions, MaxPendingBytes).
//
// The server asks its own authenticator (server.Options.
// CustomClientAuthentication) about every connection, so that devices are
// admitted and revoked without reloading the server's configuration: a
// reload re-authorizes every client, also those still connecting, which
// nats-server does not do safely (a data race on the connecting client's
// options).
type Embedded struct {
	*server.Server
	auth *authenticator
	host string
	port int
	// jsDir is the JetStream store directory; "" leaves JetStream off.
	jsDir string
}

// ServerOption is an option of StartServer.
type ServerOption func(*Embedded)

// WithJetStream enables JetStream on the embedded server, its data kept
// under dir, so that key-value buckets survive a restart. Only the OP's
// own connection may use it: devices and connections without credentials
// are granted no $JS subject.
func WithJetStream(dir string) ServerOption {
	return func(e *Embedded) { e.jsDir = dir }
}

// StartServer starts an embedded nats-server listening on addr
// ("127.0.0.1:4222"; port 0 picks a free port) and waits until it accepts
// connections. No device is enrolled until SetDevices. Stop it with
// Shutdown and WaitForShutdown.
func StartServer(addr string, opts ...ServerOption) (*Embedded, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("bus: NATS address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("bus: NATS address %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	e := &Embedded{auth: newAuthenticator(base64.RawURLEncoding.EncodeToString(pw)), host: host, port: port}
	for _, o := range opts {
		o(e)
	}
	ns, err := server.NewServer(e.options())
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("bus: embedded NATS server did not start (is the port in use?)")
	}
	e.Server = ns
	return e, nil
}

// options are the server's options.
func (e *Embedded) options() *server.Options {
	return &server.Options{
		JetStream:  e.jsDir != "",
		StoreDir:   e.jsDir,
		ServerName: "cibalab-op",
		Host:       e.host,
		Port:       e.port,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: 64 << 10,
		MaxConn:    MaxConnections,
		MaxSubs:    MaxSubscriptions,
		MaxPending: MaxPendingBytes,
		// Send a nonce to every client, for the nkeys to sign.
		AlwaysEnableNonce:          true,
		CustomClientAuthentication: e.auth,
	}
}

// SetDevices makes grants the enrolled devices (Gate). A device no longer
// listed, or granted less than before, is disconnected at once; its
// (re)connections are then judged by the new grants.
func (e *Embedded) SetDevices(grants []DeviceGrant) error {
	for _, cid := range e.auth.setDevices(grants) {
		// A client that is gone already is no error.
		e.Server.DisconnectClientByID(cid)
	}
	return nil
}

// opInboxPrefix is the inbox prefix of the OP's connection, so that the
// replies to the OP's own requests (JetStream key-value reads among them)
// are outside _INBOX.>, which an external server may open wider.
const opInboxPrefix = "_CIBALAB_OP_INBOX"

// ConnectOP opens the OP's own, fully privileged connection.
func (e *Embedded) ConnectOP(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.UserInfo(opUser, e.auth.opPassword), nats.Name("ciba-op"), nats.CustomInboxPrefix(opInboxPrefix)}, opts...)
	nc, err := nats.Connect(e.ClientURL(), opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to the embedded NATS server: %w", err)
	}
	return nc, nil
}

// normalise sorts grants by nkey and their subjects, so that equal sets
// compare equal.
func normalise(grants []DeviceGrant) []DeviceGrant {
	out := make([]DeviceGrant, 0, len(grants))
	for _, g := range grants {
		g.Publish, g.Subscribe = slices.Sorted(slices.Values(g.Publish)), slices.Sorted(slices.Values(g.Subscribe))
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b DeviceGrant) int { return strings.Compare(a.NKey, b.NKey) })
	return out
}

func grantsEqual(a, b []DeviceGrant) bool {
	return slices.EqualFunc(a, b, func(x, y DeviceGrant) bool {
		return x.NKey == y.NKey && slices.Equal(x.Publish, y.Publish) && slices.Equal(x.Subscribe, y.Subscribe)
	})
}
