package ciba

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Defaults of the notification server.
const (
	// DefaultNotificationPath is the path of the client notification
	// endpoint when NotificationServerConfig.Path is empty.
	DefaultNotificationPath = "/ciba/notify"
	// DefaultNotificationMaxBody bounds a notification body when
	// NotificationServerConfig.MaxBodyBytes is zero.
	DefaultNotificationMaxBody = 64 << 10
)

// NotificationServerConfig configures a [NotificationServer].
type NotificationServerConfig struct {
	// Addr is the listen address; "" means 127.0.0.1:0 (a free port).
	Addr string
	// URL is the https URL the provider calls, registered as the client's
	// backchannel_client_notification_endpoint (CIBA Core 1.0 §4); ""
	// means https://<listen address><Path>. Its path is where the server
	// answers.
	URL string
	// Path is used when URL is empty; "" means DefaultNotificationPath.
	Path string
	// Certificate is the server's TLS certificate and key, required: a
	// certificate for the URL's host that the provider trusts. The
	// package issues none; a program that holds a CA issues it first.
	Certificate tls.Certificate
	// MaxBodyBytes bounds a notification body; 0 means
	// DefaultNotificationMaxBody. A larger body is answered with 413.
	MaxBodyBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one event per notification; nil discards them.
	// Tokens are never logged.
	Logger *slog.Logger
	// Trace, when set, is called with every notification received, after
	// the answer is decided, for a caller that shows HTTP exchanges.
	Trace func(r *http.Request, body []byte, status int)
}

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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultNotificationMaxBody
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Path == "" {
		cfg.Path = DefaultNotificationPath
	}
	if len(cfg.Certificate.Certificate) == 0 {
		return nil, errors.New("ciba: the notification server needs a TLS certificate (Certificate)")
	}
	var u *url.URL
	if cfg.URL != "" {
		var err error
		u, err = url.Parse(cfg.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, errors.New("ciba: the notification URL must be an https URL without query or fragment (CIBA Core 1.0 §4)")
		}
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
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
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
