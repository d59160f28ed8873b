package oprun

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// The kinds of StartError: which part of the OP could not start.
const (
	// FailListen: the HTTPS address cannot be bound.
	FailListen = "listen"
	// FailNATSListen: the embedded NATS server cannot listen on its
	// address.
	FailNATSListen = "nats-listen"
	// FailNATSConnect: the external NATS server cannot be reached.
	FailNATSConnect = "nats-connect"
	// FailMetricsListen: the metrics address cannot be bound.
	FailMetricsListen = "metrics-listen"
	// FailStateDir: the state directory cannot be opened, created or
	// read.
	FailStateDir = "state-dir"
	// FailNoJetStream: the external NATS server (or cluster) has no
	// JetStream, which the JetStream registry and Persist need.
	FailNoJetStream = "no-jetstream"
	// FailRegistry: the JetStream registry cannot be opened.
	FailRegistry = "registry"
)

// StartError is why Start failed: the part that could not start (Kind),
// the address, URL or directory involved (Addr), and the cause. Callers
// branch on Kind and InUse to tell the operator what to change.
type StartError struct {
	Kind string
	Addr string
	Err  error
}

func (e *StartError) Error() string {
	switch e.Kind {
	case FailListen:
		return fmt.Sprintf("oprun: HTTPS listener on %s: %v", e.Addr, e.Err)
	case FailNATSListen:
		return fmt.Sprintf("oprun: embedded NATS server on %s: %v", e.Addr, e.Err)
	case FailNATSConnect:
		return fmt.Sprintf("oprun: NATS server %s: %v", e.Addr, e.Err)
	case FailMetricsListen:
		return fmt.Sprintf("oprun: metrics listener on %s: %v", e.Addr, e.Err)
	case FailStateDir:
		return fmt.Sprintf("oprun: state directory %s: %v", e.Addr, e.Err)
	case FailNoJetStream:
		return fmt.Sprintf("oprun: NATS server %s has no JetStream", e.Addr)
	case FailRegistry:
		return fmt.Sprintf("oprun: JetStream registry at %s: %v", e.Addr, e.Err)
	}
	return fmt.Sprintf("oprun: %s %s: %v", e.Kind, e.Addr, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// InUse reports whether the address is taken by another process.
func (e *StartError) InUse() bool { return errors.Is(e.Err, syscall.EADDRINUSE) }

// checkFree reports an error when addr cannot be listened on now (it is in
// use, or not an address of this host). Port 0 always succeeds. The
// embedded NATS server is started only after the state directory is
// ready; this check lets the usual failure happen before anything is
// written.
func checkFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ln.Close()
}
