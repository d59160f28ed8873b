package oprun

import (
	"context"
	"errors"
	"net"

	"github.com/cibalab/cibalab/server/bus"
	"github.com/cibalab/cibalab/server/metrics"
	"github.com/cibalab/cibalab/server/store"
)

// readyProbeID is the auth_req_id the store readiness check looks up: no
// request has it, so a ready store answers store.ErrNotFound.
const readyProbeID = "readyz-probe"

// newMetrics builds the OP's metrics (package metrics) with the readiness
// checks of the HTTPS listener, the OP's NATS connection and the request
// store st, and the count of connected devices when NATS is embedded
// (gate is *bus.Embedded).
func (s *Server) newMetrics(cfg Config, gate bus.Gate, st store.Store) *metrics.Metrics {
	mc := metrics.Config{NATS: s.NATS, Now: cfg.Now, Logger: cfg.Logger.With("component", "metrics")}
	if e, ok := gate.(*bus.Embedded); ok {
		mc.Devices = e.ConnectedDevices
	}
	httpsAddr, nc := s.HTTPAddr, s.NATS
	mc.Checks = []metrics.Check{
		{Name: "https", Check: func(ctx context.Context) error {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", httpsAddr)
			if err != nil {
				return errors.New("the HTTPS listener does not accept connections")
			}
			return c.Close()
		}},
		{Name: "nats", Check: func(context.Context) error {
			if !nc.IsConnected() {
				return errors.New("the NATS connection is " + nc.Status().String())
			}
			return nil
		}},
		{Name: "store", Check: func(ctx context.Context) error {
			if _, err := st.Get(ctx, readyProbeID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return errors.New("the request store does not answer: " + err.Error())
			}
			return nil
		}},
	}
	return metrics.New(mc)
}
