package optest

import (
	"github.com/cibalab/cibalab/server/simdevice"

	"context"
	"fmt"
)

// FailNextNotification makes the next ping or push the OP sends to a
// client's notification endpoint (CIBA Core 1.0 §10.2, §10.3) fail with
// the HTTP status: the notification never reaches the endpoint, and the OP
// sees the status as the endpoint's answer. Several calls fail as many
// notifications, in order.
func (s *Server) FailNextNotification(status int) {
	s.notify.Fail(status)
}

// TimeoutNextNotification makes the next ping or push time out: it never
// reaches the endpoint, and the OP gets a timeout error at once, without
// waiting for its own timeout.
func (s *Server) TimeoutNextNotification() {
	s.notify.Timeout()
}

// DropDeviceConnections closes the NATS connection of every user's
// authentication device, as if the phones lost the network: requests
// announced meanwhile do not reach them, and Approve and Deny fail, until
// ReconnectDevices.
func (s *Server) DropDeviceConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.devices {
		d.Drop()
	}
}

// ReconnectDevices reconnects every device and lists the requests still
// pending for its user (the channel's catch-up for devices that were
// offline), which then go to the policy or WaitPending as if announced.
func (s *Server) ReconnectDevices(ctx context.Context) error {
	s.mu.Lock()
	devs := make([]*simdevice.Device, 0, len(s.devices))
	for _, d := range s.devices {
		devs = append(devs, d)
	}
	s.mu.Unlock()
	for _, d := range devs {
		if err := d.Connect(ctx); err != nil {
			return fmt.Errorf("optest: %w", err)
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
