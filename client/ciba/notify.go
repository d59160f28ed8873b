package ciba

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"cibalab/shared/oauth"
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
	// Certificate is the server's TLS certificate and key. When it is
	// empty, a certificate for the URL's host is issued by CACert and
	// CAKey, which must then be set.
	Certificate tls.Certificate
	// CACert and CAKey issue the server certificate when Certificate is
	// empty; the provider must trust CACert.
	CACert *x509.Certificate
	CAKey  crypto.Signer
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

// subscription is one pending request waiting for its notification.
type subscription struct {
	mode oauth.DeliveryMode
	ch   chan *Notification
	// authReqID is the request's auth_req_id; "" until the
	// acknowledgement gives it.
	authReqID string
	// expires is when the request expires, by the server's clock; zero
	// until the acknowledgement gives its lifetime.
	expires time.Time
}

// expired reports whether the request of sub has expired at now.
func (sub *subscription) expired(now time.Time) bool {
	return !sub.expires.IsZero() && !now.Before(sub.expires)
}

// Notification is what the provider delivered for one request.
type Notification struct {
	// Mode is ping or push.
	Mode oauth.DeliveryMode
	// AuthReqID is the auth_req_id member of the body.
	AuthReqID string
	// Token is the pushed token response (push mode, CIBA Core 1.0
	// §10.3.1); nil for a ping or an error.
	Token *Token
	// Err is the pushed error (push mode, CIBA Core 1.0 §12); nil
	// otherwise.
	Err *oauth.Error
	// ReceivedAt is when it arrived.
	ReceivedAt time.Time
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
	if len(cfg.Certificate.Certificate) == 0 && (cfg.CACert == nil || cfg.CAKey == nil) {
		return nil, errors.New("ciba: the notification server needs a TLS certificate (Certificate, or CACert and CAKey to issue one)")
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
	if len(cert.Certificate) == 0 {
		cert, err = issueServerCert(cfg.CACert, cfg.CAKey, u.Hostname(), cfg.Now())
		if err != nil {
			ln.Close()
			return nil, err
		}
	}
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

// NewNotificationToken returns a fresh client_notification_token
// (CIBA Core 1.0 §7.1): 256 random bits, base64url, within the b64token
// syntax of RFC 6750 §2.1 and far below 1024 characters.
func NewNotificationToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// expect registers token for one request in mode; notifications carrying
// it are queued until forget, or until the request expires (see
// expireAfter). Registrations of expired requests are dropped here, so a
// caller that never calls Wait or Cancel does not leak them.
func (s *NotificationServer) expect(token string, mode oauth.DeliveryMode) *subscription {
	sub := &subscription{mode: mode, ch: make(chan *Notification, 8)}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, old := range s.subs {
		if old.expired(now) {
			delete(s.subs, k)
		}
	}
	s.subs[tokenKey(token)] = sub
	return sub
}

// acknowledged completes token's registration with the acknowledgement
// (CIBA Core 1.0 §7.3): the request's auth_req_id, and its lifetime,
// expires_in from now by the server's clock. After it, notifications
// carrying token are refused, and so are those naming another auth_req_id.
func (s *NotificationServer) acknowledged(token, authReqID string, lifetime time.Duration) {
	expires := s.cfg.Now().Add(lifetime)
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub := s.subs[tokenKey(token)]; sub != nil {
		sub.authReqID, sub.expires = authReqID, expires
	}
}

// lookup returns the registration of token and its auth_req_id ("" while
// unacknowledged), or nil when there is none or its request has expired
// (an expired one is dropped).
func (s *NotificationServer) lookup(token string) (*subscription, string) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tokenKey(token)
	sub := s.subs[k]
	if sub == nil {
		return nil, ""
	}
	if sub.expired(now) {
		delete(s.subs, k)
		return nil, ""
	}
	return sub, sub.authReqID
}

// forget stops accepting token.
func (s *NotificationServer) forget(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, tokenKey(token))
}

// ServeHTTP implements the client notification endpoint (CIBA Core 1.0
// §10.2, §10.3, §12): POST, Bearer token of a pending request (401
// otherwise, checked before the body is read), application/json of at
// most MaxBodyBytes, a well-formed body for the request's mode naming its
// auth_req_id (400 otherwise); then 204, written and flushed before the
// notification is queued for Wait.
func (s *NotificationServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, body := s.serve(w, r)
	if s.cfg.Trace != nil {
		s.cfg.Trace(r, body, status)
	}
}

func (s *NotificationServer) serve(w http.ResponseWriter, r *http.Request) (int, []byte) {
	log := s.cfg.Logger
	w.Header().Set("Cache-Control", "no-store")
	reject := func(status int, problem string) (int, []byte) {
		log.WarnContext(r.Context(), "ciba.notification_rejected", "status", status, "problem", problem)
		http.Error(w, problem, status)
		return status, nil
	}
	if r.URL.Path != s.path {
		return reject(http.StatusNotFound, "not the notification endpoint")
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return reject(http.StatusMethodNotAllowed, "POST only")
	}
	token, ok := bearer(r.Header.Get("Authorization"))
	var sub *subscription
	var authReqID string
	if ok {
		sub, authReqID = s.lookup(token)
	}
	if sub == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		return reject(http.StatusUnauthorized, "missing or unknown client_notification_token")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return reject(http.StatusUnsupportedMediaType, "content type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return reject(http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", s.cfg.MaxBodyBytes))
		}
		return reject(http.StatusBadRequest, "cannot read the body")
	}
	n, problem := parseNotification(body, sub.mode)
	if problem != "" {
		status, _ := reject(http.StatusBadRequest, problem)
		return status, body
	}
	if authReqID != "" && n.AuthReqID != authReqID {
		status, _ := reject(http.StatusBadRequest, "unknown auth_req_id: this client_notification_token belongs to another request")
		return status, body
	}
	n.ReceivedAt = s.cfg.Now()
	// Acknowledge first: once queued, the notification may end Wait and
	// the program with it.
	w.WriteHeader(http.StatusNoContent)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	log.InfoContext(r.Context(), "ciba.notification", "mode", string(sub.mode), "auth_req_id_hash", IDHash(n.AuthReqID))
	select {
	case sub.ch <- n:
	default:
		log.WarnContext(r.Context(), "ciba.notification_dropped", "auth_req_id_hash", IDHash(n.AuthReqID))
	}
	return http.StatusNoContent, body
}

// bearer extracts the token of an RFC 6750 §2.1 Authorization header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// parseNotification checks a notification body: for a ping
// (CIBA Core 1.0 §10.2) an object with a non-empty auth_req_id; for a
// push either a token response with auth_req_id (§10.3.1) or an error
// payload (§12). It returns a one-line problem when the body is invalid.
func parseNotification(body []byte, mode oauth.DeliveryMode) (*Notification, string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, "the body is not a JSON object"
	}
	if dec.More() {
		return nil, "data after the JSON object"
	}
	id, ok := raw[oauth.ParamAuthReqID].(string)
	if !ok || id == "" {
		return nil, "no auth_req_id in the notification"
	}
	n := &Notification{Mode: mode, AuthReqID: id}
	if mode == oauth.ModePing {
		return n, ""
	}
	if _, present := raw["error"]; present {
		oe, problem := decodeError(body)
		if problem != "" {
			return nil, "push error payload: " + problem
		}
		n.Err = oe
		return n, ""
	}
	tok, problem := decodeToken(body)
	if problem != "" {
		return nil, "push payload: " + problem
	}
	if tok.IDToken == "" {
		return nil, "push payload without id_token (CIBA Core 1.0 §10.3.1)"
	}
	n.Token = tok
	return n, ""
}

// issueServerCert issues a short-lived ECDSA P-256 server certificate for
// host, signed by ca.
func issueServerCert(ca *x509.Certificate, caKey crypto.Signer, host string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ciba: notification server key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ciba: notification server certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ciba: notification server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("ciba: notification server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// waitNotified waits d by Config.Sleep, ending early when sub receives a
// notification (returned). A notification already queued returns at once.
func (c *Config) waitNotified(ctx context.Context, d time.Duration, sub *subscription) (*Notification, error) {
	if sub == nil {
		if d <= 0 {
			return nil, nil
		}
		return nil, c.sleep(ctx, d)
	}
	select {
	case n := <-sub.ch:
		return n, nil
	default:
	}
	if d <= 0 {
		return nil, nil
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.sleep(sctx, d) }()
	select {
	case n := <-sub.ch:
		cancel()
		<-done
		return n, nil
	case err := <-done:
		if err != nil {
			return nil, err
		}
		select { // a notification that raced the end of the wait
		case n := <-sub.ch:
			return n, nil
		default:
		}
		return nil, nil
	}
}
