package ciba

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// NotificationServer is the client notification endpoint of CIBA Core 1.0
// §9 and §10.2–§10.3, served over HTTPS. Each backchannel request in ping
// or push mode registers a fresh client_notification_token; a notification
// is accepted only with Authorization: Bearer <that token> (else 401), as
// application/json of bounded size, naming the auth_req_id of that token's
// request (else 400), and answered 204 No Content, never a redirect. The
// 204 is written before the notification is handed to Wait, and Close
// lets answers in progress finish, so a program that exits when Wait
// returns has acknowledged every notification it acted on; a provider
// that gets a 4xx knows the client does not wait for that request. It is
// safe for concurrent use.
type NotificationServer struct {
	cfg  NotificationServerConfig
	url  string
	path string
	leaf *x509.Certificate
	ln   net.Listener
	srv  *http.Server
	done chan struct{}

	mu   sync.Mutex
	subs map[[32]byte]*subscription
}

// NewNotificationServer listens on cfg.Addr and serves the notification
// endpoint until Close.
func NewNotificationServer(cfg NotificationServerConfig) (*NotificationServer, error) {
	cfg, u, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ciba: notification server: %w", err)
	}
	if u == nil {
		u = &url.URL{Scheme: "https", Host: ln.Addr().String(), Path: cfg.Path}
	}
	if u.Path == "" {
		u.Path = "/"
	}
	cert := cfg.Certificate
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			ln.Close()
			return nil, fmt.Errorf("ciba: notification server certificate: %w", err)
		}
	}
	s := &NotificationServer{
		cfg:  cfg,
		url:  u.String(),
		path: u.Path,
		leaf: leaf,
		ln:   ln,
		done: make(chan struct{}),
		subs: map[[32]byte]*subscription{},
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          log.New(httpErrorLog{cfg.Logger}, "", 0),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	go func() {
		defer close(s.done)
		_ = s.srv.ServeTLS(ln, "", "") // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// URL is the notification endpoint to register as the client's
// backchannel_client_notification_endpoint.
func (s *NotificationServer) URL() string { return s.url }

// Certificate is the server's TLS certificate, for a provider (or a test)
// that must trust it.
func (s *NotificationServer) Certificate() *x509.Certificate { return s.leaf }

// closeGrace bounds how long Close waits for answers in progress.
const closeGrace = 5 * time.Second

// Close stops the server and waits until it has stopped: it accepts no
// new connection, lets the answers in progress be written (for up to
// 5 s), then closes every connection.
func (s *NotificationServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	<-s.done
	return err
}

// httpErrorLog sends net/http's own log lines (TLS handshake errors and
// the like) to the logger at debug level, as ciba.http_server_error.
type httpErrorLog struct{ l *slog.Logger }

func (w httpErrorLog) Write(p []byte) (int, error) {
	w.l.Debug("ciba.http_server_error", "detail", strings.TrimSpace(string(p)))
	return len(p), nil
}
