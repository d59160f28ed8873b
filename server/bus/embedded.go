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
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"cibalab/shared/channel"
)

// opUser is the NATS user of the OP's own connection on the embedded server.
const opUser = "cibalab-op"

// enrollUser is the NATS user of every connection that presents no
// credentials.
const enrollUser = "enroll"

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
// DeviceGrant (see SetDevices). A connection without credentials is the
// "enroll" user: it may only publish an EnrollHello on the enrollment
// subject of any realm, and subscribe to nothing, so it reads no
// authentication request, no event and no reply at all; it publishes
// nothing else. The nkey it names is then admitted for a short while to
// enroll on subjects only that nkey may use (Responder).
// Wrong credentials are refused at connect time. Connections,
// subscriptions per connection and buffered bytes are bounded
// (MaxConnections, MaxSubscriptions, MaxPendingBytes).
type Embedded struct {
	*server.Server
	opPassword string
	// sentinel is an nkey nobody holds (its seed is discarded): with at
	// least one nkey configured, the server refuses an unknown nkey
	// instead of treating its connection as one without credentials.
	sentinel string
	host     string
	port     int
	// jsDir is the JetStream store directory; "" leaves JetStream off.
	jsDir string

	mu      sync.Mutex // serialises reloads
	devices []DeviceGrant
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
	rand.Read(pw)
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	sentinel, _ := kp.PublicKey()
	kp.Wipe()
	e := &Embedded{opPassword: base64.RawURLEncoding.EncodeToString(pw), sentinel: sentinel, host: host, port: port}
	for _, o := range opts {
		o(e)
	}
	ns, err := server.NewServer(e.options(nil))
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

// options builds the server options for the given enrolled devices. It
// builds a fresh value each time: a reload compares old and new.
func (e *Embedded) options(devices []DeviceGrant) *server.Options {
	users := []*server.NkeyUser{{Nkey: e.sentinel, Permissions: &server.Permissions{
		Publish:   &server.SubjectPermission{Deny: []string{">"}},
		Subscribe: &server.SubjectPermission{Deny: []string{">"}},
	}}}
	for _, g := range devices {
		users = append(users, &server.NkeyUser{Nkey: g.NKey, Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: slices.Clone(g.Publish)},
			Subscribe: &server.SubjectPermission{Allow: slices.Clone(g.Subscribe)},
		}})
	}
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
		// Present a nonce even when no device is enrolled, so that a
		// revoked device's nkey is refused as an authorization violation
		// rather than as "nkeys not supported".
		AlwaysEnableNonce: true,
		Users: []*server.User{
			{Username: opUser, Password: e.opPassword},
			// No password can match: this user is reached only as the
			// NoAuthUser, by connections that present no credentials.
			// It may publish an EnrollHello and subscribe to nothing: it
			// reads nobody's replies, not even its own.
			{Username: enrollUser, Password: e.opPassword + "-unused", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{channel.EnrollSubject("*")}},
				Subscribe: &server.SubjectPermission{Deny: []string{">"}},
			}},
		},
		Nkeys:      users,
		NoAuthUser: enrollUser,
	}
}

// SetDevices makes grants the enrolled devices (Gate). The server reloads
// its authorization in place: a device no longer listed is disconnected at
// once, and its reconnections are refused.
func (e *Embedded) SetDevices(grants []DeviceGrant) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	grants = normalise(grants)
	if grantsEqual(e.devices, grants) {
		return nil
	}
	opts := e.options(grants)
	// The random port was resolved at start; keep it.
	opts.Port = e.Server.Addr().(*net.TCPAddr).Port
	if err := e.Server.ReloadOptions(opts); err != nil {
		return fmt.Errorf("bus: reload NATS authorization: %w", err)
	}
	e.devices = grants
	return nil
}

// opInboxPrefix is the inbox prefix of the OP's connection, so that the
// replies to the OP's own requests (JetStream key-value reads among them)
// are outside _INBOX.>, which an external server may open wider.
const opInboxPrefix = "_CIBALAB_OP_INBOX"

// ConnectOP opens the OP's own, fully privileged connection.
func (e *Embedded) ConnectOP(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.UserInfo(opUser, e.opPassword), nats.Name("ciba-op"), nats.CustomInboxPrefix(opInboxPrefix)}, opts...)
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
