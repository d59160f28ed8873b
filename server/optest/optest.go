package optest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/faults"
	"github.com/cibalab/cibalab/server/oprun"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/simdevice"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// The client and user every Server starts with, as "ciba-op serve" creates
// them: a poll-mode tls_client_auth client with subject CN=cibaConformance,
// and a user "user" with the password "password".
const (
	DefaultClientID = registry.DefaultClientID
	DefaultUser     = registry.DefaultUser
	DefaultPassword = registry.DefaultUserPassword
)

// passwordIterations is the PBKDF2 iteration count of the test users'
// password hashes: one, since nothing here needs to resist guessing.
const passwordIterations = 1

// Server is a running OpenID Provider for tests. Create it with NewServer
// (or Start outside a test), use its fields and methods from the test, and
// let the test's cleanup (or Close) stop it. Its methods are safe for
// concurrent use.
type Server struct {
	// URL is the issuer identifier, e.g. https://127.0.0.1:41234/master.
	// The discovery document is at URL + "/.well-known/openid-configuration",
	// the backchannel authentication endpoint at URL + "/mtls/bc-authorize"
	// and the token endpoint at URL + "/mtls/token".
	URL string
	// NATSURL is the OP's embedded NATS server.
	NATSURL string
	// CA is the certificate authority that issued the OP's TLS server
	// certificate and the clients' certificates; CAPool holds it alone.
	CA     *x509.Certificate
	CAPool *x509.CertPool
	// OP is the running provider, for what this package does not wrap
	// (its state directory, OP.Dir, in particular).
	OP *oprun.Server

	tb      testing.TB // nil for a server from Start
	opts    options
	clock   *clock
	store   store.Store
	notify  *faults.Notifications
	dir     string // removed by Close when ownDir
	ownDir  bool
	ctx     context.Context // ends at Close; bounds the policies' decisions
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closing sync.Once

	// throttle refuses the token requests of ThrottleNextPolls; it has
	// its own lock.
	throttle faults.Throttle

	mu      sync.Mutex
	devices map[string]*simdevice.Device // by user
	clients map[string]*clientCreds      // by client id
	queue   []Pending                    // announced, undecided, not yet waited for
	seen    map[string]bool              // auth_req_ids announced
	decided map[string]bool              // auth_req_id → approved, for decisions made here
	changed chan struct{}                // closed and replaced on every change
	closed  bool
}

// clientCreds is a client's certificate and the HTTP client presenting it.
type clientCreds struct {
	cert tls.Certificate
	hc   *http.Client
}

// NewServer starts an OP for the test tb and stops it in tb's cleanup. It
// fails the test if the OP cannot start. See [Start] for what it starts.
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := start(tb, tb.TempDir(), false, opts)
	if err != nil {
		tb.Fatalf("optest: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Start starts an OP outside a test (in an Example or a TestMain that
// shares one OP between tests); call Close to stop it and remove its state
// directory. It serves HTTPS and the embedded NATS server on random ports
// of 127.0.0.1, keeps its state in a new temporary directory, and has the
// client DefaultClientID and the user DefaultUser, whose authentication
// device is enrolled and listening. Where a server from NewServer fails
// its test, the methods of a server from Start panic.
func Start(opts ...Option) (*Server, error) {
	dir, err := os.MkdirTemp("", "optest-")
	if err != nil {
		return nil, fmt.Errorf("optest: %w", err)
	}
	s, err := start(nil, dir, true, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func start(tb testing.TB, dir string, ownDir bool, opts []Option) (_ *Server, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		tb: tb, opts: o, clock: &clock{}, store: store.NewMemory(), dir: dir, ownDir: ownDir,
		devices: map[string]*simdevice.Device{}, clients: map[string]*clientCreds{},
		seen: map[string]bool{}, decided: map[string]bool{}, changed: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	stateDir := filepath.Join(dir, "state")
	if err := writeSigningKeys(stateDir); err != nil {
		return nil, err
	}
	s.notify = faults.NewNotifications(o.notifyBase)
	cfg := oprun.Config{
		StateDir:           stateDir,
		Addr:               "127.0.0.1:0",
		NATSAddr:           "127.0.0.1:0",
		PasswordIterations: passwordIterations,
		Store:              s.store,
		Now:                s.clock.Now,
		Logger:             o.logger,
	}
	cfg.Provider.NotificationClient = &http.Client{
		Transport:     s.notify,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, f := range o.provider {
		f(&cfg.Provider)
	}
	cfg.Provider.Throttle = s.throttle.Hook(cfg.Provider.Throttle)
	if s.OP, err = oprun.Start(cfg); err != nil {
		return nil, fmt.Errorf("optest: %w", err)
	}
	s.URL, s.NATSURL = s.OP.Issuer, s.OP.NATSURL

	caPEM, err := os.ReadFile(s.OP.Report.CAFile)
	if err != nil {
		return nil, fmt.Errorf("optest: %w", err)
	}
	cas, err := pki.ParseCertificatesPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("optest: CA certificate: %w", err)
	}
	s.CA, s.CAPool = cas[0], x509.NewCertPool()
	s.CAPool.AddCert(s.CA)

	cert, err := pki.LoadPEMKeyPair(s.OP.Report.ClientCertPEM, s.OP.Report.ClientKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("optest: client %s: %w", DefaultClientID, err)
	}
	s.clients[DefaultClientID] = s.newClientCreds(cert)

	if err := s.addDevice(DefaultUser, DefaultPassword); err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops the devices, the OP and its NATS server, waits for decisions
// in flight and, for a server from Start, removes its state directory. It
// may be called more than once.
func (s *Server) Close() error {
	s.closing.Do(func() {
		s.mu.Lock()
		s.closed = true // no policy goroutine starts after this
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		s.mu.Lock()
		for _, d := range s.devices {
			d.Drop()
		}
		for _, c := range s.clients {
			c.hc.CloseIdleConnections()
		}
		s.mu.Unlock()
		if s.OP != nil {
			s.OP.Close()
		}
		if s.ownDir {
			os.RemoveAll(s.dir)
		}
	})
	return nil
}

// fatalf fails the test of a server from NewServer, and panics for a
// server from Start, like the helpers of net/http/httptest.
func (s *Server) fatalf(format string, args ...any) {
	if s.tb != nil {
		s.tb.Helper()
		s.tb.Fatalf(format, args...)
		return
	}
	panic(fmt.Sprintf(format, args...))
}

// note reports what happened outside the test's own calls, such as a
// policy's decision the OP refused: the event name and its attributes
// (key, value pairs), to the test's log or else to the logger.
func (s *Server) note(event string, attrs ...any) {
	if s.tb != nil && s.ctx.Err() == nil {
		line := event
		for i := 0; i+1 < len(attrs); i += 2 {
			line += fmt.Sprintf(" %v=%v", attrs[i], attrs[i+1])
		}
		s.tb.Logf("optest: %s", line)
		return
	}
	s.opts.logger.Info(event, attrs...)
}

// Client returns an HTTP client that trusts the OP's CA and presents a
// certificate of the registered client clientID (RFC 8705 §2.1), issued by
// the OP's CA for the client's registered subject on first use. The same
// *http.Client is returned on every call. A client registered with
// another authentication method than tls_client_auth gets a client that
// presents no certificate.
func (s *Server) Client(clientID string) *http.Client {
	if s.tb != nil {
		s.tb.Helper()
	}
	c, err := s.creds(clientID)
	if err != nil {
		s.fatalf("optest: %v", err)
		return nil
	}
	return c.hc
}

// ClientCertificate returns the certificate and key that Client presents
// for clientID, for code that builds its own TLS configuration.
func (s *Server) ClientCertificate(clientID string) tls.Certificate {
	if s.tb != nil {
		s.tb.Helper()
	}
	c, err := s.creds(clientID)
	if err != nil {
		s.fatalf("optest: %v", err)
		return tls.Certificate{}
	}
	return c.cert
}

func (s *Server) creds(clientID string) (*clientCreds, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.clients[clientID]; c != nil {
		return c, nil
	}
	client, err := s.OP.Dir.Client(clientID)
	if err != nil {
		return nil, err
	}
	var cert tls.Certificate
	if client.TokenEndpointAuthMethod == oauth.AuthTLSClient {
		issued, err := s.OP.Dir.IssueClientCert(clientID, registry.IssueOptions{Password: "optest"})
		if err != nil {
			return nil, err
		}
		cert = tls.Certificate{Certificate: [][]byte{issued.Cert.Raw}, PrivateKey: issued.Key, Leaf: issued.Cert}
	}
	c := s.newClientCreds(cert)
	s.clients[clientID] = c
	return c, nil
}

// RefusedError is the OP's refusal of a device's decision, with the
// channel's error code (channel.ErrNotPending, channel.ErrNotYourRequest,
// ...) and its description.
type RefusedError = simdevice.RefusedError

func (s *Server) newClientCreds(cert tls.Certificate) *clientCreds {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: s.CAPool, MinVersion: tls.VersionTLS12}
	if cert.Certificate != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	}
	return &clientCreds{cert: cert, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// AddClient registers the client id. Without options it is like the
// default client: tls_client_auth with subject DN "CN=<id>", poll mode,
// the CIBA grant (CIBA Core 1.0 §4, RFC 8705 §2.1.2). It fails the test
// when the OP refuses the registration.
func (s *Server) AddClient(id string, opts ...ClientOption) {
	if s.tb != nil {
		s.tb.Helper()
	}
	c := registry.Client{ID: id, TokenEndpointAuthMethod: oauth.AuthTLSClient, SubjectDN: "CN=" + id,
		DeliveryMode: oauth.ModePoll, GrantTypes: []string{oauth.GrantTypeCIBA}}
	for _, opt := range opts {
		opt(&c)
	}
	if err := s.OP.Dir.AddClient(c); err != nil {
		s.fatalf("optest: add client %s: %v", id, err)
	}
}

// AddUser adds the user id with password and enrolls an authentication
// device for them, which receives their requests from then on. It fails
// the test when the OP refuses the user.
func (s *Server) AddUser(id, password string) {
	if s.tb != nil {
		s.tb.Helper()
	}
	if err := s.OP.Dir.AddUser(registry.User{ID: id, Name: id}, password); err != nil {
		s.fatalf("optest: add user %s: %v", id, err)
		return
	}
	if err := s.addDevice(id, password); err != nil {
		s.fatalf("%v", err)
	}
}

// addDevice enrolls and connects a device for user.
func (s *Server) addDevice(user, password string) error {
	d, err := simdevice.New(simdevice.Config{
		NATSURL: s.NATSURL, Realm: realmOf(s.URL), User: user, Password: password,
		Name: "optest", Now: s.clock.Now, OnRequest: s.announced,
	})
	if err != nil {
		return err
	}
	if err := d.Connect(s.ctx); err != nil {
		d.Drop()
		return fmt.Errorf("optest: %w", err)
	}
	s.mu.Lock()
	s.devices[user] = d
	s.mu.Unlock()
	return nil
}

// realmOf is the last path segment of the issuer.
func realmOf(issuer string) string {
	return path.Base(issuer)
}

// Now returns the OP's current time.
func (s *Server) Now() time.Time { return s.clock.Now() }

// Advance moves the OP's clock d forward; the package documentation lists
// what the clock governs. It then has the OP push expired_token for push
// clients' requests that expired undecided (CIBA Core 1.0 §12), in the
// background. A negative d fails the test.
func (s *Server) Advance(d time.Duration) {
	if d < 0 {
		if s.tb != nil {
			s.tb.Helper()
		}
		s.fatalf("optest: Advance(%v): the OP's clock only moves forward", d)
		return
	}
	s.clock.offset.Add(int64(d))
	// Push the expired_token of push clients' requests that just expired
	// now, rather than at the OP's next one-second tick.
	if _, err := s.OP.Provider.NotifyExpired(s.ctx); err != nil && s.ctx.Err() == nil {
		s.note("optest.expiry_push_failed", "err", err.Error(), "detail", "after Advance")
	}
}

// clock is the real clock plus an offset.
type clock struct{ offset atomic.Int64 }

// Now is time.Now plus the offset.
func (c *clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// broadcastLocked wakes every waiter; the caller holds s.mu.
func (s *Server) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// errClosed reports a wait on a closed server.
var errClosed = errors.New("optest: server closed")

// pendingFrom converts an announcement.
func pendingFrom(r channel.AuthRequest) Pending {
	return Pending{
		AuthReqID: r.AuthReqID, ClientID: r.ClientID, ClientName: r.ClientName, User: r.User,
		Scope: r.Scope, BindingMessage: r.BindingMessage, ACRValues: r.ACRValues,
		AuthorizationDetails: r.AuthorizationDetails,
		CreatedAt:            time.Unix(r.CreatedAt, 0), ExpiresAt: time.Unix(r.ExpiresAt, 0),
	}
}
