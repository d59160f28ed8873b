package cli

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/cibalab/cibalab/server/oprun"
)

// checkListenAddr reports a listen address that is not HOST:PORT with a
// port from 0 to 65535 (a usage error, before anything starts).
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number from 0 to 65535", addr)
	}
	return nil
}

// startFailure turns a failed start into one line that names what failed
// and what to change.
func startFailure(err error) error {
	var se *oprun.StartError
	if !errors.As(err, &se) {
		return oneLine(err)
	}
	cause := se.Err
	var op *net.OpError
	if errors.As(cause, &op) && op.Err != nil {
		cause = op.Err // "bind: address already in use", without the address again
	}
	switch {
	case se.Kind == oprun.FailListen && se.InUse():
		return fmt.Errorf("%s is in use: stop the other ciba-op (or whatever listens there) or pass --addr (port 0 picks a free port)", se.Addr)
	case se.Kind == oprun.FailListen:
		return oneLine(fmt.Errorf("cannot listen on %s (%v): pass --addr with an address of this host", se.Addr, cause))
	case se.Kind == oprun.FailNATSListen && se.InUse():
		return fmt.Errorf("NATS address %s is in use: stop the other ciba-op or NATS server, or pass --nats-addr (port 0 picks a free port)", se.Addr)
	case se.Kind == oprun.FailNATSListen:
		return oneLine(fmt.Errorf("cannot start NATS on %s (%v): pass --nats-addr with an address of this host", se.Addr, cause))
	case se.Kind == oprun.FailNATSConnect:
		return oneLine(fmt.Errorf("cannot reach the NATS server at %s (%v): start it, correct --nats-url, or leave --nats-url out to run the embedded NATS server", se.Addr, cause))
	case se.Kind == oprun.FailNoJetStream:
		return fmt.Errorf("the NATS server at %s has no JetStream, where --registry jetstream keeps the registry: start every nats-server with -js (or a jetstream {} block)", se.Addr)
	case se.Kind == oprun.FailRegistry:
		return oneLine(fmt.Errorf("cannot open the JetStream registry at %s (%v)", se.Addr, cause))
	case se.Kind == oprun.FailMetricsListen && se.InUse():
		return fmt.Errorf("metrics address %s is in use: stop whatever listens there, or pass --metrics-addr (port 0 picks a free port)", se.Addr)
	case se.Kind == oprun.FailMetricsListen:
		return oneLine(fmt.Errorf("cannot listen on %s for metrics (%v): pass --metrics-addr with an address of this host", se.Addr, cause))
	case se.Kind == oprun.FailStateDir:
		return oneLine(fmt.Errorf("cannot use the state directory %s (%v): check its path and permissions, or pass --state-dir", se.Addr, cause))
	}
	return oneLine(err)
}

// oneLine keeps an error message on one line.
func oneLine(err error) error {
	msg := err.Error()
	if !strings.ContainsAny(msg, "\r\n") {
		return err
	}
	return errors.New(strings.Join(strings.Fields(msg), " "))
}
