package optest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
)

// notificationTransport carries the OP's pings and pushes
// (CIBA Core 1.0 §10.2, §10.3) and applies the faults the test queued, one
// per notification, in order.
type notificationTransport struct {
	base http.RoundTripper

	mu     sync.Mutex
	faults []notificationFault
}

// notificationFault is what happens to one notification instead of its
// delivery: an HTTP status, or a timeout.
type notificationFault struct {
	status  int
	timeout bool
}

func newNotificationTransport(base http.RoundTripper) *notificationTransport {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &notificationTransport{base: base}
}

// push queues a fault for the next notification without one.
func (t *notificationTransport) push(f notificationFault) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = append(t.faults, f)
}

// queued is the number of faults not yet applied.
func (t *notificationTransport) queued() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.faults)
}

// RoundTrip delivers req, unless a fault is queued: then req never reaches
// the endpoint, and the OP sees the fault's status or a timeout.
func (t *notificationTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	var f *notificationFault
	if len(t.faults) > 0 {
		f = &t.faults[0]
		t.faults = t.faults[1:]
	}
	t.mu.Unlock()
	if f == nil {
		return t.base.RoundTrip(req)
	}
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	if f.timeout {
		return nil, timeoutError{}
	}
	return &http.Response{
		Status:     fmt.Sprintf("%d %s", f.status, http.StatusText(f.status)),
		StatusCode: f.status,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"text/plain; charset=utf-8"}},
		Body:    io.NopCloser(strings.NewReader("optest: injected fault\n")),
		Request: req,
	}, nil
}

// timeoutError is a network timeout (net.Error with Timeout true, and
// os.ErrDeadlineExceeded for errors.Is).
type timeoutError struct{}

func (timeoutError) Error() string   { return "optest: injected notification timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Unwrap() error   { return os.ErrDeadlineExceeded }

// FailNextNotification makes the next ping or push the OP sends to a
// client's notification endpoint (CIBA Core 1.0 §10.2, §10.3) fail with
// the HTTP status: the notification never reaches the endpoint, and the OP
// sees the status as the endpoint's answer. Several calls fail as many
// notifications, in order.
func (s *Server) FailNextNotification(status int) {
	s.notify.push(notificationFault{status: status})
}

// TimeoutNextNotification makes the next ping or push time out: it never
// reaches the endpoint, and the OP gets a timeout error at once, without
// waiting for its own timeout.
func (s *Server) TimeoutNextNotification() {
	s.notify.push(notificationFault{timeout: true})
}

// DropDeviceConnections closes the NATS connection of every user's
// authentication device, as if the phones lost the network: requests
// announced meanwhile do not reach them, and Approve and Deny fail, until
// ReconnectDevices.
func (s *Server) DropDeviceConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.devices {
		d.drop()
	}
}

// ReconnectDevices reconnects every device and lists the requests still
// pending for its user (the channel's catch-up for devices that were
// offline), which then go to the policy or WaitPending as if announced.
func (s *Server) ReconnectDevices(ctx context.Context) error {
	s.mu.Lock()
	devs := make([]*device, 0, len(s.devices))
	for _, d := range s.devices {
		devs = append(devs, d)
	}
	s.mu.Unlock()
	for _, d := range devs {
		if err := d.connect(ctx); err != nil {
			return err
		}
	}
	return nil
}

// DropOPConnection breaks the OP's own NATS connection, which reconnects at
// once: announcements made meanwhile are buffered and sent on
// reconnection, and device messages that find no OP listening are retried
// by the devices.
func (s *Server) DropOPConnection() error {
	nc := s.OP.NATS
	if err := nc.ForceReconnect(); err != nil {
		return fmt.Errorf("optest: %w", err)
	}
	// The first attempt waits the connection's reconnect delay; a second
	// call while reconnecting skips it.
	if nc.IsReconnecting() {
		nc.ForceReconnect()
	}
	return nil
}
