package cli

import (
	"context"
	"crypto/tls"
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

const serveSummary = `Starts the OpenID Provider: HTTPS endpoints for CIBA with mutual TLS and an
embedded NATS server for authentication devices. With no flags it serves
https://localhost:5001/master and nats://127.0.0.1:4222 from ./.cibalab,
creating on first start a CA, a server certificate, the client
cibaConformance (with its PKCS#12) and the user "user" (password "password").
When every listener is ready it prints one line on stdout:
  ciba-op ready issuer=URL nats=URL state-dir=DIR
It stops cleanly, with exit code 0, on SIGINT or SIGTERM.`

// runServe implements "ciba-op serve".
func runServe(ctx context.Context, e Env, args []string) int {
	var o serveOptions
	c := newCommand("serve", "serve [flags]", serveSummary)
	c.stateDirVar(&o.stateDir)
	c.stringVar(&o.addr, "addr", "CIBA_OP_ADDR", "localhost:5001", "HTTPS listen `HOST:PORT`; port 0 picks a free port")
	c.stringVar(&o.realm, "realm", "CIBA_OP_REALM", "master", "`REALM`, the issuer's path: https://HOST:PORT/REALM")
	c.stringVar(&o.natsAddr, "nats-addr", "CIBA_OP_NATS_ADDR", "127.0.0.1:4222", "embedded NATS listen `HOST:PORT`; port 0 picks a free port")
	c.stringVar(&o.natsURL, "nats-url", "CIBA_OP_NATS_URL", "", "use the external NATS server at `URL` instead of the embedded one")
	c.durationVar(&o.interval, "interval", "CIBA_OP_INTERVAL", 5*time.Second, "minimum `TIME` between polls, sent as interval (CIBA §7.3)")
	c.durationVar(&o.defaultExpiry, "default-expiry", "CIBA_OP_DEFAULT_EXPIRY", 120*time.Second, "expires_in (`TIME`) when the client sends no requested_expiry")
	c.durationVar(&o.minExpiry, "min-expiry", "CIBA_OP_MIN_EXPIRY", time.Second, "lower bound (`TIME`) of a requested_expiry")
	c.durationVar(&o.maxExpiry, "max-expiry", "CIBA_OP_MAX_EXPIRY", 600*time.Second, "upper bound (`TIME`) of a requested_expiry")
	c.stringVar(&o.logLevel, "log-level", "CIBA_OP_LOG_LEVEL", "info", "`LEVEL` of the logs on stderr: debug, info, warn or error")
	if code, ok := c.parse(e, args); !ok {
		return code
	}
	for name, d := range map[string]time.Duration{"interval": o.interval, "default-expiry": o.defaultExpiry, "min-expiry": o.minExpiry, "max-expiry": o.maxExpiry} {
		if d < time.Second || d%time.Second != 0 {
			return c.usageError(e, fmt.Sprintf("--%s %s: must be a whole number of seconds, at least 1s", name, d))
		}
	}
	if o.minExpiry > o.defaultExpiry || o.defaultExpiry > o.maxExpiry {
		return c.usageError(e, "expiry bounds must satisfy --min-expiry <= --default-expiry <= --max-expiry")
	}
	if err := channel.ValidRealm(o.realm); err != nil {
		return c.usageError(e, "--realm: "+err.Error())
	}
	logger := e.Logger
	if logger == nil {
		var level slog.Level
		if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
			return c.usageError(e, fmt.Sprintf("--log-level %q: want debug, info, warn or error", o.logLevel))
		}
		logger = slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
	}
	if err := serve(ctx, e, o, logger); err != nil {
		return c.fail(e, exitError, err)
	}
	return exitOK
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
