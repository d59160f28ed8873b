package oprun

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/bus"
	"github.com/cibalab/cibalab/server/metrics"
	"github.com/cibalab/cibalab/server/op"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/server/store/natskv"
	"github.com/cibalab/cibalab/server/watch"
	"github.com/cibalab/cibalab/shared/channel"
)

// Config configures a Server. Zero values are the documented defaults.
type Config struct {
	// StateDir is the state directory; it is created and initialised
	// (registry.Dir.Init) when needed. Required.
	StateDir string
	// Addr is the HTTPS listen address; "" means localhost:5001, port 0
	// picks a free port. The issuer uses its host as written.
	Addr string
	// Realm is the issuer's path; "" means master.
	Realm string
	// PublicHost, when set, is the HOST or HOST:PORT that names the OP in
	// its issuer instead of Addr's: several OPs behind one load balancer
	// must share one issuer (docs/deployment.md). Without a port, the
	// listener's. The server certificate names HOST too.
	PublicHost string
	// NATSAddr is the embedded NATS server's listen address; "" means
	// 127.0.0.1:4222, port 0 picks a free port. Ignored with NATSURL.
	// The embedded server has no TLS, so Start refuses an address that is
	// not loopback unless InsecureNATSNonLoopback is set.
	NATSAddr string
	// InsecureNATSNonLoopback lets the embedded NATS server listen on an
	// address that is not loopback, where enrollment passwords cross the
	// network in clear. For a lab network only.
	InsecureNATSNonLoopback bool
	// NATSURL, when set, is an external NATS server used instead of the
	// embedded one: one URL, or several separated by commas (the nodes of
	// a cluster). A URL may carry the OP's user and password
	// (nats://user:password@host:4222); Server.NATSURL and the logs show
	// it without them.
	NATSURL string
	// Registry is where the clients, users, devices, CAs and signing keys
	// live: RegistryDir ("" too) in StateDir, or RegistryJetStream in the
	// JetStream bucket registry.DefaultBucket at NATSURL (required then),
	// shared by every OP and admin command using it; StateDir then keeps
	// only this OP's TLS certificate, ca.pem and the default client's
	// files.
	Registry string
	// RegistryKey is the operator's key (registry.KeyFileSize bytes) that
	// encrypts the private keys in the JetStream registry; required with
	// RegistryJetStream and the same for every OP.
	RegistryKey []byte
	// Replicas is the replica count of the JetStream buckets Start
	// creates (the registry, and with Persist the requests, tokens, jtis
	// and lockouts): 3 on a three-node cluster, so that each survives the
	// loss of a node; 0 means 1. An existing bucket keeps its own.
	Replicas int
	// NATSAuthCallout, with NATSURL, is the account key pair (seed) named
	// as issuer in the external server's auth_callout block: the OP then
	// answers the server's authorization requests (bus.Callout), so that
	// devices get the same per-device permissions as on the embedded
	// server. The OP's own connection must be one of the server's
	// auth_users (credentials in NATSURL). nil leaves NATS authorization
	// to the server's operator.
	NATSAuthCallout nkeys.KeyPair
	// PasswordIterations is passed to registry.Config.
	PasswordIterations int
	// Store holds requests; nil means a new store.Memory, or a
	// natskv.Store with Persist.
	Store store.Store
	// Persist keeps pending requests, refresh tokens, the jtis of
	// single-use client JWTs and user_code lockouts in NATS JetStream
	// key-value buckets (natskv.Store, natskv.Tokens, natskv.JTIs,
	// natskv.Lockouts) instead of memory, so
	// they survive a restart and OPs sharing one NATS server or cluster
	// share them. The embedded NATS server
	// then runs JetStream with its data in <StateDir>/jetstream; with
	// NATSURL the external server must have JetStream enabled. Ignored
	// when Store is set.
	Persist bool
	// MetricsAddr, when not "", is the listen address of the metrics and
	// health endpoints (package metrics: /metrics, /healthz, /readyz);
	// port 0 picks a free port. They are plain HTTP and unauthenticated,
	// so Start refuses an address that is not loopback unless
	// MetricsAllowRemote is set.
	MetricsAddr        string
	MetricsAllowRemote bool
	// DeviceLimits bounds what each enrolled device may make the OP do
	// (bus.DeviceLimits); its zero value is the documented defaults.
	DeviceLimits bus.DeviceLimits
	// Provider carries the op.Config knobs (Interval, expiry bounds, token
	// lifetimes, NotificationClient, Observer, ...). Its Issuer, Clients,
	// Users, Store, ClientCAs, keys, Announcer, Now and Logger are set by
	// Start; its Transitions, when set, receives every transition after the
	// channel responder.
	Provider op.Config
	Now      func() time.Time
	Logger   *slog.Logger
}

// The values of Config.Registry.
const (
	RegistryDir       = "dir"
	RegistryJetStream = "jetstream"
)

// Server is a running OP. Close stops it.
type Server struct {
	// Issuer is the issuer identifier, e.g. https://localhost:5001/master.
	Issuer string
	// HTTPAddr is the address the HTTPS listener is bound to.
	HTTPAddr string
	// NATSURL is the NATS server devices connect to.
	NATSURL string
	// Dir is the state directory.
	Dir *registry.Dir
	// Report says what Start created in the state directory.
	Report *registry.InitReport
	// Provider is the OP's HTTP surface.
	Provider *op.Provider
	// NATS is the OP's own NATS connection.
	NATS *nats.Conn
	// Store holds the authentication requests.
	Store store.Store
	// Responder is the OP's side of the NATS channel.
	Responder *bus.Responder
	// MetricsAddr is the address the metrics listener is bound to, ""
	// without one (Config.MetricsAddr).
	MetricsAddr string
	// Metrics are the OP's metrics, nil without Config.MetricsAddr.
	Metrics *metrics.Metrics

	log     *slog.Logger
	resume  bool // the sweep resumes unfinished deliveries
	closers []func()
	srv     *http.Server
	metrics *http.Server
	errc    chan error
	stop    context.CancelFunc
	done    chan struct{}
}

// Start builds and starts the OP: it binds the HTTPS address, checks the
// NATS address (or connects to the external NATS server), then opens and
// initialises the state directory, starts NATS, serves HTTPS, and sweeps
// expired requests (pushing expired_token to push clients) until Close.
//
// The listeners and the external NATS connection come first, so that the
// common start-up failures (an address in use, an unreachable NATS server)
// leave the state directory as it was. A failure is a *StartError naming
// what failed; everything Start had opened is closed again.
func Start(cfg Config) (*Server, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("oprun: StateDir is required")
	}
	def(&cfg.Addr, "localhost:5001")
	def(&cfg.Realm, "master")
	def(&cfg.NATSAddr, "127.0.0.1:4222")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := channel.ValidRealm(cfg.Realm); err != nil {
		return nil, err
	}
	if cfg.NATSURL == "" && !cfg.InsecureNATSNonLoopback && !Loopback(cfg.NATSAddr) {
		return nil, fmt.Errorf("oprun: NATS address %q is not a loopback address: the embedded NATS server has no TLS, so enrollment passwords would cross the network in clear; listen on 127.0.0.1, use an external NATS server with TLS, or allow it explicitly (ciba-op serve --insecure-nats-non-loopback)", cfg.NATSAddr)
	}
	if cfg.MetricsAddr != "" && !cfg.MetricsAllowRemote && !Loopback(cfg.MetricsAddr) {
		return nil, fmt.Errorf("oprun: metrics address %q is not a loopback address: the metrics and health endpoints are plain HTTP without authentication; listen on 127.0.0.1, or allow it explicitly (ciba-op serve --metrics-allow-remote)", cfg.MetricsAddr)
	}
	s := &Server{log: cfg.Logger, errc: make(chan error, 1), done: make(chan struct{})}
	if err := s.start(cfg); err != nil {
		s.closeAll()
		return nil, err
	}
	return s, nil
}

// start does the work of Start on s; on error the caller closes what it
// opened (s.closers).
func (s *Server) start(cfg Config) error {
	// Listen first: the chosen port is part of the issuer, and the server
	// certificate must name the host.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return &StartError{Kind: FailListen, Addr: cfg.Addr, Err: err}
	}
	s.closers = append(s.closers, func() { ln.Close() })
	s.HTTPAddr = ln.Addr().String()
	host, _, _ := net.SplitHostPort(cfg.Addr)
	if host == "" {
		host = "localhost"
	}
	_, port, _ := net.SplitHostPort(s.HTTPAddr)
	// The server certificate names the host of Addr (unless it is the
	// unspecified address) and the public one.
	var certHosts []string
	if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
		certHosts = append(certHosts, host)
	}
	if cfg.PublicHost != "" {
		h, p, err := SplitPublicHost(cfg.PublicHost)
		if err != nil {
			return &StartError{Kind: FailListen, Addr: cfg.PublicHost, Err: err}
		}
		host = h
		certHosts = append(certHosts, h)
		if p != "" {
			port = p
		}
	}
	s.Issuer = "https://" + net.JoinHostPort(host, port) + "/" + cfg.Realm

	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return &StartError{Kind: FailMetricsListen, Addr: cfg.MetricsAddr, Err: err}
		}
		s.closers = append(s.closers, func() { metricsLn.Close() })
		s.MetricsAddr = metricsLn.Addr().String()
	}

	natsOpts := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	if cfg.NATSURL == "" {
		if err := checkFree(cfg.NATSAddr); err != nil {
			return &StartError{Kind: FailNATSListen, Addr: cfg.NATSAddr, Err: err}
		}
	} else {
		// The URLs may carry the OP's NATS credentials: they are neither
		// shown nor handed to devices.
		public := WithoutCredentials(cfg.NATSURL)
		if s.NATS, err = nats.Connect(cfg.NATSURL, append(natsOpts, nats.Name("ciba-op"))...); err != nil {
			return &StartError{Kind: FailNATSConnect, Addr: public, Err: err}
		}
		s.closers = append(s.closers, s.NATS.Close)
		s.NATSURL = public
	}

	dir, err := s.openRegistry(cfg)
	if err != nil {
		return err
	}
	s.Dir = dir
	s.closers = append(s.closers, func() { dir.Close() })
	hosts := registry.DefaultServerHosts()
	for _, h := range certHosts {
		if !containsFold(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if s.Report, err = dir.Init(registry.InitOptions{ServerHosts: hosts}); err != nil {
		return &StartError{Kind: FailStateDir, Addr: cfg.StateDir, Err: err}
	}
	serverCert, err := dir.ServerCertificate()
	if err != nil {
		return &StartError{Kind: FailStateDir, Addr: cfg.StateDir, Err: err}
	}
	rs, es, err := dir.SigningKeys()
	if err != nil {
		return &StartError{Kind: FailStateDir, Addr: cfg.StateDir, Err: err}
	}

	var gate bus.Gate // nil with an external NATS server: its operator authorizes devices
	var watched func() bool
	if cfg.NATSURL == "" {
		// The operator's identity on the embedded server: it may read the
		// event stream (ciba-op watch), nothing else.
		operator, err := bus.OperatorKey(filepath.Join(dir.Path(), bus.OperatorSeedFile))
		if err != nil {
			return &StartError{Kind: FailStateDir, Addr: cfg.StateDir, Err: err}
		}
		nsOpts := []bus.ServerOption{bus.WithOperator(operator, cfg.Realm)}
		if cfg.Persist && cfg.Store == nil {
			nsOpts = append(nsOpts, bus.WithJetStream(filepath.Join(dir.Path(), "jetstream")))
		}
		ns, err := bus.StartServer(cfg.NATSAddr, nsOpts...)
		if err != nil {
			return &StartError{Kind: FailNATSListen, Addr: cfg.NATSAddr, Err: err}
		}
		s.closers = append(s.closers, func() { ns.Shutdown(); ns.WaitForShutdown() })
		s.NATSURL = ns.ClientURL()
		gate = ns
		watched = ns.EventsWatched(cfg.Realm)
		// Where ciba-op watch finds this server; removed at Close.
		urlFile := filepath.Join(dir.Path(), bus.NATSURLFile)
		if err := os.WriteFile(urlFile, []byte(s.NATSURL+"\n"), 0o644); err != nil {
			return &StartError{Kind: FailStateDir, Addr: cfg.StateDir, Err: err}
		}
		s.closers = append(s.closers, func() { os.Remove(urlFile) })
		if s.NATS, err = ns.ConnectOP(natsOpts...); err != nil {
			return err
		}
		s.closers = append(s.closers, s.NATS.Close)
	}

	var callout *bus.Callout
	if cfg.NATSURL != "" && cfg.NATSAuthCallout != nil {
		if callout, err = bus.NewCallout(bus.CalloutConfig{Conn: s.NATS, Issuer: cfg.NATSAuthCallout, Now: cfg.Now, Logger: cfg.Logger.With("component", "callout")}); err != nil {
			return err
		}
		gate = callout
	}
	responder, err := bus.NewResponder(bus.Config{Conn: s.NATS, Realm: cfg.Realm, Users: dir, Devices: dir, Gate: gate, DeviceLimits: cfg.DeviceLimits, EventsWatched: watched, Now: cfg.Now, Logger: cfg.Logger.With("component", "channel")})
	if err != nil {
		return err
	}
	pc := cfg.Provider
	pc.Issuer = s.Issuer
	pc.Clients, pc.Users = dir, dir
	pc.Store = cfg.Store
	if pc.Store == nil && cfg.Persist {
		js, err := openJetStream(s.NATS, cfg.Realm, cfg.Replicas, cfg.Logger)
		if err != nil {
			return err
		}
		pc.Store = js.requests
		if pc.Tokens == nil {
			pc.Tokens = js.tokens
		}
		if pc.JTIs == nil {
			pc.JTIs = js.jtis
		}
		if pc.Lockouts == nil {
			pc.Lockouts = js.lockouts
		}
	}
	if pc.Store == nil {
		pc.Store = store.NewMemory()
	}
	if metricsLn != nil {
		s.Metrics = s.newMetrics(cfg, gate, pc.Store)
		pc.Store = s.Metrics.Store(pc.Store)
	}
	pc.ClientCAs = dir.ClientCAPool
	if pc.NotificationRoots, err = notificationRoots(dir, pc.NotificationRoots); err != nil {
		return err
	}
	pc.RS256Key, pc.ES256Key = rs, es
	if pc.PublishedKeys, err = dir.PublishedKeys(); err != nil {
		return &StartError{Kind: FailStateDir, Addr: cfg.StateDir, Err: err}
	}
	pc.Announcer = responder
	// The exchanges and notifications of each flow go on the event
	// stream too, for ciba-op watch.
	pc.Observer = op.Observers(cfg.Provider.Observer, watch.NewPublisher(responder))
	pc.Transitions = responder
	if cfg.Provider.Transitions != nil {
		pc.Transitions = sinks{responder, cfg.Provider.Transitions}
	}
	if s.Metrics != nil {
		pc.Observer = op.Observers(pc.Observer, s.Metrics)
		pc.Transitions = sinks{pc.Transitions, s.Metrics}
	}
	s.Store, s.Responder = pc.Store, responder
	pc.Now = cfg.Now
	pc.Logger = cfg.Logger.With("component", "op")
	if s.Provider, err = op.New(pc); err != nil {
		return err
	}
	if err := responder.Serve(s.Provider); err != nil {
		return err
	}
	s.closers = append(s.closers, responder.Close)
	if callout != nil {
		// After Serve, which told it the enrolled devices.
		if err := callout.Start(); err != nil {
			return err
		}
		s.closers = append(s.closers, callout.Close)
	}

	s.srv = &http.Server{
		Handler: s.Provider.Handler(),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{serverCert},
			// Request, don't require or verify, a client certificate: each
			// endpoint authenticates the client itself, so a missing or
			// wrong certificate is an invalid_client JSON error
			// (RFC 8705 §2) rather than a TLS alert. The handshake still
			// proves possession of the certificate's key.
			ClientAuth: tls.RequestClientCert,
			CipherSuites: []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
				tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			},
		},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          log.New(&slogWriter{cfg.Logger}, "", 0),
	}
	go func() { s.errc <- s.srv.ServeTLS(ln, "", "") }()
	if metricsLn != nil {
		s.metrics = &http.Server{
			Handler:           s.Metrics.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    32 << 10,
			ErrorLog:          log.New(&slogWriter{cfg.Logger}, "", 0),
		}
		go func() {
			if err := s.metrics.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				select {
				case s.errc <- fmt.Errorf("metrics listener: %w", err):
				default:
				}
			}
		}()
	}

	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	// Deliveries left unfinished can only be resumed from a store that
	// outlives an OP: one in JetStream, or the caller's.
	s.resume = cfg.Persist || cfg.Store != nil
	go s.sweep(ctx)
	cfg.Logger.Info("op.ready", "issuer", s.Issuer, "nats", s.NATSURL, "state_dir", dir.Path())
	return nil
}

// Err returns a channel that receives the HTTPS server's error if it stops
// on its own.
func (s *Server) Err() <-chan error { return s.errc }

// Close stops the HTTPS server (letting requests in flight finish for up to
// 5 s), pending ping and push deliveries, the channel responder and NATS.
func (s *Server) Close() error {
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.srv.Shutdown(ctx)
	}
	if s.metrics != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.metrics.Shutdown(ctx)
	}
	if s.Provider != nil {
		s.Provider.Close() // stops pings and pushes in flight
	}
	s.closeAll()
	return nil
}

func (s *Server) closeAll() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// sweep removes long-expired requests every 30 s, and every second pushes
// expired_token for push clients' requests that expired undecided
// (op.Provider.NotifyExpired, CIBA Core 1.0 §12) and resumes the ping and
// push deliveries nobody finished (op.Provider.ResumeDeliveries).
func (s *Server) sweep(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	expiry := time.NewTicker(expiryNotifyInterval)
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-expiry.C:
			if n, err := s.Provider.NotifyExpired(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("notify.expiry_scan_failed", "err", err)
			} else if n > 0 {
				s.log.Debug("notify.expiry_pushes_started", "count", n)
			}
			// Deliveries to ping and push clients that an OP sharing the
			// store left unfinished (it stopped) are resumed here.
			if s.resume {
				if _, err := s.Provider.ResumeDeliveries(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("notify.resume_failed", "err", err)
				}
			}
		case <-t.C:
			if n, err := s.Provider.Sweep(ctx); err != nil {
				s.log.Error("store.sweep_failed", "err", err)
			} else if n > 0 {
				s.log.Debug("store.swept", "count", n)
			}
		}
	}
}

// bothSinks passes every transition to the channel responder, then to the
// caller's Config.Provider.Transitions.
type bothSinks [2]authreq.Sink

// Transition implements authreq.Sink.
func (b bothSinks) Transition(ctx context.Context, e authreq.Event) {
	b[0].Transition(ctx, e)
	b[1].Transition(ctx, e)
}

// openRegistry opens the registry cfg.Registry selects: the state
// directory, or the JetStream bucket on s.NATS (checking first that the
// server has JetStream).
func (s *Server) openRegistry(cfg Config) (*registry.Dir, error) {
	rc := registry.Config{Now: cfg.Now, Logger: cfg.Logger, PasswordIterations: cfg.PasswordIterations}
	switch cfg.Registry {
	case "", RegistryDir:
		dir, err := registry.Open(cfg.StateDir, rc)
		if err != nil {
			return nil, &StartError{Kind: FailStateDir, Addr: cfg.StateDir, Err: err}
		}
		return dir, nil
	case RegistryJetStream:
	default:
		return nil, fmt.Errorf("oprun: Registry %q: want %q or %q", cfg.Registry, RegistryDir, RegistryJetStream)
	}
	if cfg.NATSURL == "" {
		return nil, errors.New("oprun: the JetStream registry needs NATSURL")
	}
	// The URLs may hold the OP's NATS password: errors name them without.
	public := WithoutCredentials(cfg.NATSURL)
	js, err := jetstream.New(s.NATS)
	if err != nil {
		return nil, &StartError{Kind: FailRegistry, Addr: public, Err: err}
	}
	var dir *registry.Dir
	err = waitForLeaders(cfg.Logger, "the JetStream registry", func(ctx context.Context) (err error) {
		dir, err = registry.OpenJetStream(ctx, cfg.StateDir, registry.JetStreamConfig{JS: js, Replicas: cfg.Replicas, Key: cfg.RegistryKey}, rc)
		return err
	})
	switch {
	case errors.Is(err, registry.ErrNoJetStream):
		return nil, &StartError{Kind: FailNoJetStream, Addr: public, Err: err}
	case err != nil:
		return nil, &StartError{Kind: FailRegistry, Addr: public, Err: err}
	}
	return dir, nil
}

// jetStreamStores are the OP's state on JetStream.
type jetStreamStores struct {
	requests *natskv.Store
	tokens   *natskv.Tokens
	jtis     *natskv.JTIs
	lockouts *natskv.Lockouts
}

// openJetStream opens the buckets of realm on nc's JetStream: requests,
// refresh tokens, jtis and user_code lockouts, created with replicas replicas when new.
func openJetStream(nc *nats.Conn, realm string, replicas int, logger *slog.Logger) (*jetStreamStores, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("oprun: JetStream: %w", err)
	}
	cfg := natskv.Config{Realm: realm, Replicas: replicas, Logger: logger.With("component", "store")}
	var out jetStreamStores
	err = waitForLeaders(logger, "the JetStream buckets", func(ctx context.Context) (err error) {
		if out.requests, err = natskv.New(ctx, js, cfg); err != nil {
			return err
		}
		if out.tokens, err = natskv.NewTokens(ctx, js, cfg); err != nil {
			return err
		}
		if out.jtis, err = natskv.NewJTIs(ctx, js, cfg); err != nil {
			return err
		}
		out.lockouts, err = natskv.NewLockouts(ctx, js, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("oprun: persistent store (is JetStream enabled on the NATS server, with a majority of its nodes up?): %w", err)
	}
	return &out, nil
}

// waitForLeaders runs open, each time within 10 s, until it does not time
// out or storeWait has passed: a cluster that has just started needs some
// seconds to elect the leaders of its streams, and until then what lives
// in JetStream (what names) does not answer.
func waitForLeaders(logger *slog.Logger, what string, open func(context.Context) error) error {
	deadline := time.Now().Add(storeWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := open(ctx)
		cancel()
		if err == nil || !electing(err) || time.Now().After(deadline) {
			return err
		}
		logger.Warn("store.waiting", "reason", what+" does not answer yet (a cluster electing its leaders?)", "err", err.Error())
	}
}

// jsErrNoPeers is JetStream's "no suitable peers for placement": a
// cluster that has not yet seen enough of its nodes to place the replicas.
const jsErrNoPeers jetstream.ErrorCode = 10005

// electing reports whether err is what a JetStream cluster answers while
// it forms or elects its leaders: a timeout, or no peers for placement
// yet. A server that can never place the replicas (R3 on one node) gives
// the latter too; it is then reported after storeWait.
func electing(err error) bool {
	var api *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &api) && api.ErrorCode == jsErrNoPeers)
}

// storeWait bounds how long Start waits for the JetStream buckets of a
// cluster that is electing its leaders.
const storeWait = 40 * time.Second

// WithoutCredentials returns the comma-separated NATS URLs of urls with
// any user and password removed.
func WithoutCredentials(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := url.Parse(p); err == nil && u.User != nil {
			u.User = nil
			p = u.String()
		} else if err != nil && strings.Contains(p, "@") {
			p = p[strings.LastIndex(p, "@")+1:] // unparsable: keep the host part only
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// expiryNotifyInterval is how often expired requests of push clients are
// looked for: an expired_token push is at most this late.
const expiryNotifyInterval = time.Second

// Loopback reports whether the listen address addr binds only loopback
// interfaces: a loopback IP or "localhost". An empty host (every
// interface) or any other name is not.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func def(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// slogWriter sends net/http's own log lines (TLS handshake errors and the
// like) to the logger at debug level.
type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	w.l.Debug("http.server_error", "detail", strings.TrimSpace(string(p)))
	return len(p), nil
}

// sinks passes each transition to every sink in turn.
type sinks []authreq.Sink

func (ss sinks) Transition(ctx context.Context, e authreq.Event) {
	for _, s := range ss {
		s.Transition(ctx, e)
	}
}

// SplitPublicHost splits a Config.PublicHost, HOST or HOST:PORT (an IPv6
// address in brackets), into its host and its port ("" when absent).
func SplitPublicHost(v string) (host, port string, err error) {
	bad := func() (string, string, error) {
		return "", "", fmt.Errorf("public host %q: want HOST or HOST:PORT, without scheme or path", v)
	}
	if v == "" || strings.ContainsAny(v, "/?#@ ") {
		return bad()
	}
	if h, p, err := net.SplitHostPort(v); err == nil {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || h == "" {
			return bad()
		}
		return h, p, nil
	}
	if strings.Contains(strings.Trim(v, "[]"), ":") && net.ParseIP(strings.Trim(v, "[]")) == nil {
		return bad()
	}
	return strings.Trim(v, "[]"), "", nil
}
