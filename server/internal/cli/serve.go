package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"cibalab/server/bus"
	"cibalab/server/op"
	"cibalab/server/state"
	"cibalab/server/store"
	"cibalab/shared/channel"
)

// serveOptions are the flags of "ciba-op serve".
type serveOptions struct {
	stateDir      string
	addr          string
	realm         string
	natsAddr      string
	natsURL       string
	interval      time.Duration
	defaultExpiry time.Duration
	minExpiry     time.Duration
	maxExpiry     time.Duration
	logLevel      string
}

const serveUsage = `Usage: ciba-op serve [flags]

Starts the OpenID Provider: HTTPS endpoints for CIBA with mutual TLS and an
embedded NATS server for authentication devices. With no flags it serves
https://localhost:5001/master and nats://127.0.0.1:4222 from ./.cibalab,
creating on first start a CA, a server certificate, the client
cibaConformance (with its PKCS#12) and the user "user" (password "password").

Flags (each also read from the environment variable shown):
`

// runServe implements "ciba-op serve".
func runServe(ctx context.Context, e Env, args []string) int {
	var o serveOptions
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := func(name, def string) string {
		if v := e.getenv(name); v != "" {
			return v
		}
		return def
	}
	type durFlag struct {
		p          *time.Duration
		name, env  string
		def, usage string
	}
	fs.StringVar(&o.stateDir, "state-dir", env("CIBA_OP_STATE_DIR", ".cibalab"), "state directory `DIR` (CA, clients, users, keys) [CIBA_OP_STATE_DIR]")
	fs.StringVar(&o.addr, "addr", env("CIBA_OP_ADDR", "localhost:5001"), "HTTPS listen `HOST:PORT`; port 0 picks a free port [CIBA_OP_ADDR]")
	fs.StringVar(&o.realm, "realm", env("CIBA_OP_REALM", "master"), "realm, the issuer's path [CIBA_OP_REALM]")
	fs.StringVar(&o.natsAddr, "nats-addr", env("CIBA_OP_NATS_ADDR", "127.0.0.1:4222"), "embedded NATS listen `HOST:PORT`; port 0 picks a free port [CIBA_OP_NATS_ADDR]")
	fs.StringVar(&o.natsURL, "nats-url", env("CIBA_OP_NATS_URL", ""), "use this external NATS `URL` instead of the embedded server [CIBA_OP_NATS_URL]")
	fs.StringVar(&o.logLevel, "log-level", env("CIBA_OP_LOG_LEVEL", "info"), "debug, info, warn or error [CIBA_OP_LOG_LEVEL]")
	durs := []durFlag{
		{&o.interval, "interval", "CIBA_OP_INTERVAL", "5s", "minimum time between polls, sent as interval (CIBA §7.3)"},
		{&o.defaultExpiry, "default-expiry", "CIBA_OP_DEFAULT_EXPIRY", "120s", "expires_in when the client sends no requested_expiry"},
		{&o.minExpiry, "min-expiry", "CIBA_OP_MIN_EXPIRY", "1s", "lower bound of a requested_expiry"},
		{&o.maxExpiry, "max-expiry", "CIBA_OP_MAX_EXPIRY", "600s", "upper bound of a requested_expiry"},
	}
	for _, d := range durs {
		fs.Func(d.name, d.usage+" (default "+d.def+") ["+d.env+"]", func(s string) error {
			v, err := time.ParseDuration(s)
			if err != nil || v <= 0 {
				return fmt.Errorf("must be a positive duration such as %s", d.def)
			}
			*d.p = v
			return nil
		})
	}
	for _, d := range durs {
		s := env(d.env, d.def)
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 {
			fmt.Fprintf(e.Stderr, "ciba-op serve: %s=%q: must be a positive duration such as %s\n", d.env, s, d.def)
			return 2
		}
		*d.p = v
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(e.Stdout, serveUsage)
			fs.SetOutput(e.Stdout)
			fs.PrintDefaults()
			fmt.Fprint(e.Stdout, "\nEXIT CODES\n  0  stopped by SIGINT or SIGTERM\n  1  could not start (port in use, unreadable state directory, ...)\n  2  usage error\n")
			return 0
		}
		fmt.Fprintf(e.Stderr, "ciba-op serve: %v (see ciba-op serve --help)\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "ciba-op serve: unexpected argument %q (see ciba-op serve --help)\n", fs.Arg(0))
		return 2
	}
	if err := channel.ValidRealm(o.realm); err != nil {
		fmt.Fprintf(e.Stderr, "ciba-op serve: --realm: %v\n", err)
		return 2
	}
	logger := e.Logger
	if logger == nil {
		var level slog.Level
		if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
			fmt.Fprintf(e.Stderr, "ciba-op serve: --log-level %q: want debug, info, warn or error\n", o.logLevel)
			return 2
		}
		logger = slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
	}
	if err := serve(ctx, e, o, logger); err != nil {
		fmt.Fprintf(e.Stderr, "ciba-op serve: %v\n", err)
		return 1
	}
	return 0
}

// serve runs the OP until ctx is done.
func serve(ctx context.Context, e Env, o serveOptions, logger *slog.Logger) error {
	now := e.Now
	if now == nil {
		now = time.Now
	}
	dir, err := state.Open(o.stateDir, state.Config{Now: now, Logger: logger, PasswordIterations: servePasswordIterations(e)})
	if err != nil {
		return err
	}

	// Listen first: the chosen port is part of the issuer, and the server
	// certificate must name the host.
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	defer ln.Close()
	host, _, _ := net.SplitHostPort(o.addr)
	if host == "" {
		host = "localhost"
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	issuer := "https://" + net.JoinHostPort(host, port) + "/" + o.realm

	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if !containsFold(hosts, host) {
		hosts = append(hosts, host)
	}
	report, err := dir.Init(state.InitOptions{ServerHosts: hosts})
	if err != nil {
		return err
	}
	for _, line := range report.Created {
		fmt.Fprintln(e.Stdout, "created "+line)
	}
	serverCert, err := dir.ServerCertificate()
	if err != nil {
		return err
	}
	rs, es, err := dir.SigningKeys()
	if err != nil {
		return err
	}

	// NATS: embedded unless an external URL is given.
	natsURL := o.natsURL
	natsOpts := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
	var nc *nats.Conn
	if natsURL == "" {
		ns, err := bus.StartServer(o.natsAddr)
		if err != nil {
			return err
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		natsURL = ns.ClientURL()
		if nc, err = ns.ConnectOP(natsOpts...); err != nil {
			return err
		}
	} else if nc, err = nats.Connect(natsURL, append(natsOpts, nats.Name("ciba-op"))...); err != nil {
		return fmt.Errorf("connect to NATS %s: %w", natsURL, err)
	}
	defer nc.Close()
	responder, err := bus.NewResponder(bus.Config{Conn: nc, Realm: o.realm, Users: dir, Now: now, Logger: logger.With("component", "channel")})
	if err != nil {
		return err
	}
	provider, err := op.New(op.Config{
		Issuer:        issuer,
		Clients:       dir,
		Users:         dir,
		Store:         store.NewMemory(),
		ClientCAs:     dir.ClientCAPool,
		RS256Key:      rs,
		ES256Key:      es,
		Announcer:     responder,
		Interval:      o.interval,
		DefaultExpiry: o.defaultExpiry,
		MinExpiry:     o.minExpiry,
		MaxExpiry:     o.maxExpiry,
		Now:           now,
		Logger:        logger.With("component", "op"),
	})
	if err != nil {
		return err
	}
	if err := responder.Serve(provider); err != nil {
		return err
	}
	defer responder.Close()

	srv := &http.Server{
		Handler: provider.Handler(),
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
		ErrorLog:          log.New(&slogWriter{logger}, "", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()

	printNextSteps(e.Stdout, dir, report, issuer, natsURL)
	fmt.Fprintf(e.Stdout, "ciba-op ready issuer=%s nats=%s state-dir=%s\n", issuer, natsURL, dir.Path())
	logger.Info("ready", "issuer", issuer, "nats", natsURL, "state_dir", dir.Path())
	if e.Ready != nil {
		e.Ready(ReadyInfo{Issuer: issuer, HTTPAddr: ln.Addr().String(), NATSURL: natsURL, StateDir: dir.Path()})
	}

	sweep := time.NewTicker(30 * time.Second)
	defer sweep.Stop()
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("HTTPS server: %w", err)
		case <-sweep.C:
			if n, err := provider.Sweep(ctx); err != nil {
				logger.Error("sweep failed", "err", err)
			} else if n > 0 {
				logger.Debug("expired requests removed", "count", n)
			}
		case <-ctx.Done():
			logger.Info("shutting down")
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			return nil
		}
	}
}

// printNextSteps prints the commands that complete the flow against this OP.
func printNextSteps(w io.Writer, dir *state.Dir, report *state.InitReport, issuer, natsURL string) {
	rel := func(p string) string {
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
				return r
			}
		}
		return p
	}
	fmt.Fprintf(w, "next, in a second terminal (the authentication device):\n  ciba-authenticator --nats-url %s --user user\n", natsURL)
	if report.ClientP12 != "" {
		fmt.Fprintf(w, "then, in a third terminal (the consumption device):\n  ciba-client --issuer %s --client-id cibaConformance --cert %s --cert-password-file %s --ca-file %s --login-hint user --binding-message \"Message\"\n",
			issuer, rel(report.ClientP12), rel(report.ClientP12PasswordFile), rel(dir.CAFile()))
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

// servePasswordIterations reads the PBKDF2 iteration count knob used by tests;
// 0 lets the state package choose its default.
func servePasswordIterations(e Env) int {
	var n int
	fmt.Sscan(e.getenv("CIBA_OP_PASSWORD_ITERATIONS"), &n)
	return n
}

// slogWriter sends net/http's own log lines (TLS handshake errors and the
// like) to the logger at debug level.
type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	w.l.Debug("http", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}
