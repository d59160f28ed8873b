package cli

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cibalab/cibalab/server/control"
	"github.com/cibalab/cibalab/server/faults"
	"github.com/cibalab/cibalab/server/op"
	"github.com/cibalab/cibalab/server/oprun"
)

// controlHooks are what the control API needs inside the OP: its fault
// injectors and its event log, installed in op.Config before the OP
// starts.
type controlHooks struct {
	notifications *faults.Notifications
	throttle      *faults.Throttle
	events        *control.EventLog
}

// install puts the hooks into pc.
func (h *controlHooks) install(pc *op.Config) {
	h.throttle = &faults.Throttle{}
	h.events = control.NewEventLog(0)
	pc.Throttle = h.throttle.Hook(pc.Throttle)
	pc.Transitions = h.events
	pc.WrapNotificationTransport = func(rt http.RoundTripper) http.RoundTripper {
		h.notifications = faults.NewNotifications(rt)
		return h.notifications
	}
}

// startControl serves the control API on o.controlAddr with a fresh bearer
// token, written to STATE-DIR/control-token and printed once on stderr.
// It returns the API's base URL and a function that stops it.
func startControl(e Env, o serveOptions, s *oprun.Server, clock *control.Clock, h controlHooks, logger *slog.Logger) (string, func(), error) {
	token, err := control.NewToken()
	if err != nil {
		return "", nil, err
	}
	api, err := control.New(control.Config{
		Token: token, OP: s, Clock: clock,
		Notifications: h.notifications, Throttle: h.throttle, Events: h.events,
		Logger: logger.With("component", "control"),
	})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", o.controlAddr)
	if err != nil {
		api.Close()
		return "", nil, fmt.Errorf("control API listener on %s: %w", o.controlAddr, err)
	}
	tokenFile, err := control.WriteToken(s.Dir.Path(), token)
	if err != nil {
		ln.Close()
		api.Close()
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(&discardWriter{}, "", 0),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("control.stopped", "err", err)
		}
	}()
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(e.Stderr, "ciba-op control API on %s; bearer token %s (also in %s)\n", url, token, tokenFile)
	return url, func() {
		srv.Close()
		if err := api.Close(); err != nil {
			logger.Warn("control.device_revoke_failed", "err", err)
		}
	}, nil
}

// discardWriter drops net/http's own log lines.
type discardWriter struct{}

func (*discardWriter) Write(p []byte) (int, error) { return len(p), nil }
