package bus

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"cibalab/shared/channel"
)

// opUser is the NATS user of the OP's own connection on the embedded server.
const opUser = "cibalab-op"

// Embedded is a nats-server running inside the OP's process.
//
// It has two users. The OP's connection (ConnectOP) authenticates with a
// password generated at start and held only in memory, and may do
// everything. Every other connection is the anonymous "device" user, which
// may only send requests to the OP's device subjects, read replies on its
// inbox, read authentication requests, and watch events: it can neither
// read sign-in messages (and their passwords) nor publish a request or a
// reply in the OP's name.
type Embedded struct {
	*server.Server
	opPassword string
}

// StartServer starts an embedded nats-server listening on addr
// ("127.0.0.1:4222"; port 0 picks a free port) and waits until it accepts
// connections. Stop it with Shutdown and WaitForShutdown.
func StartServer(addr string) (*Embedded, error) {
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
	e := &Embedded{opPassword: base64.RawURLEncoding.EncodeToString(pw)}
	devicePub := []string{
		channel.SignInSubject("*"),
		channel.PendingSubject("*"),
		channel.DecideSubject("*"),
	}
	deviceSub := []string{
		"_INBOX.>",
		channel.Prefix + ".*.user.*.requests", // UserRequestsSubject would encode the wildcards
		channel.EventsSubject("*"),
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "cibalab-op",
		Host:       host,
		Port:       port,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: 64 << 10,
		Users: []*server.User{
			{Username: opUser, Password: e.opPassword},
			{Username: "device", Password: e.opPassword + "-unused", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: devicePub},
				Subscribe: &server.SubjectPermission{Allow: deviceSub},
			}},
		},
		NoAuthUser: "device",
	})
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

// ConnectOP opens the OP's own, fully privileged connection.
func (e *Embedded) ConnectOP(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.UserInfo(opUser, e.opPassword), nats.Name("ciba-op")}, opts...)
	nc, err := nats.Connect(e.ClientURL(), opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to the embedded NATS server: %w", err)
	}
	return nc, nil
}
