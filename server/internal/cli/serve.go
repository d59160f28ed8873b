package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/server/bus"
	"github.com/cibalab/cibalab/server/control"
	"github.com/cibalab/cibalab/server/op"
	"github.com/cibalab/cibalab/server/oprun"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/pki"
)

// serveOptions are the flags of "ciba-op serve".
type serveOptions struct {
	stateDir     string
	addr         string
	realm        string
	publicHost   string
	natsAddr     string
	natsURL      string
	insecureNATS bool
	persist      bool
	// registry, registryKeyFile and replicas select and configure the
	// JetStream registry (oprun.Config.Registry).
	registry        string
	registryKeyFile string
	replicas        int
	// calloutSeedFile is the auth callout issuer's seed
	// (oprun.Config.NATSAuthCallout).
	calloutSeedFile string
	interval        time.Duration
	longPoll        time.Duration
	defaultExpiry   time.Duration
	minExpiry       time.Duration
	maxExpiry       time.Duration
	logLevel        string
	userCode        bool
	notifyCAFile    string
	// accessTokenAlg is op.Config.AccessTokenAlg.
	accessTokenAlg string
	// maxTokenConcurrency is op.Config.MaxConcurrentTokenRequests.
	maxTokenConcurrency int
	// deviceDecisionRate is the decisions a second one device may send
	// (bus.DeviceLimits).
	deviceDecisionRate int
	// metricsAddr and metricsAllowRemote are oprun.Config.MetricsAddr
	// and MetricsAllowRemote.
	metricsAddr        string
	metricsAllowRemote bool
	// controlAddr, controlAllowRemote and testClock configure the control
	// API (package control).
	controlAddr        string
	controlAllowRemote bool
	testClock          bool
}

const serveSummary = `Starts the OpenID Provider: HTTPS endpoints for CIBA with mutual TLS and an
embedded NATS server for authentication devices. With no flags it serves
https://localhost:5001/master and nats://127.0.0.1:4222 from ./.cibalab,
creating on first start a CA, a server certificate, the client
cibaConformance (with its PKCS#12) and the user "user" (password "password").
When every listener is ready it prints one line on stdout:
  ciba-op ready issuer=URL nats=URL state-dir=DIR
It stops cleanly on SIGINT or SIGTERM, with exit code 130 like the other
programs.`

// runServe implements "ciba-op serve".
func runServe(ctx context.Context, e Env, args []string) int {
	var o serveOptions
	c := newCommand("serve", "serve [flags]", serveSummary)
	c.stringVar(&o.stateDir, "state-dir", envStateDir, defaultStateDir, "`DIR` holding the OP's state (with --registry jetstream: only its TLS certificate, ca.pem and the default client's files)")
	c.stringVar(&o.addr, "addr", "CIBA_OP_ADDR", "localhost:5001", "HTTPS listen `HOST:PORT`; port 0 picks a free port")
	c.stringVar(&o.realm, "realm", "CIBA_OP_REALM", "master", "`REALM`, the issuer's path: https://HOST:PORT/REALM")
	c.stringVar(&o.publicHost, "public-host", "CIBA_OP_PUBLIC_HOST", "", "`HOST[:PORT]` naming the OP in its issuer instead of --addr's (default: the port of --addr): OPs behind one load balancer share one issuer; the server certificate names HOST too")
	c.stringVar(&o.natsAddr, "nats-addr", "CIBA_OP_NATS_ADDR", "127.0.0.1:4222", "embedded NATS listen `HOST:PORT`; port 0 picks a free port")
	c.stringVar(&o.natsURL, "nats-url", envNATSURL, "", "use the external NATS server or cluster at `URL[,URL...]` instead of the embedded one")
	c.stringVar(&o.registry, "registry", envRegistry, "dir", "`KIND` of registry, where the clients, users, devices, CAs and signing keys live: dir (in --state-dir) or jetstream (NATS JetStream at --nats-url, shared by every OP and admin command using it)")
	c.stringVar(&o.registryKeyFile, "registry-key-file", envRegistryKeyFile, "", "`FILE` with the 32-byte key (raw or base64, mode 0600) that encrypts the private keys in the JetStream registry; required with --registry jetstream")
	c.stringVar(&o.calloutSeedFile, "nats-auth-callout-seed-file", envCalloutSeedFile, "", "`FILE` (mode 0600) with the account nkey seed (SA...) whose public key is the issuer of the --nats-url server's auth_callout: the OP then admits devices with their own permissions, as the embedded server does (connect the OP as one of its auth_users: nats://USER:PASSWORD@HOST:PORT)")
	c.intVar(&o.replicas, "replicas", envReplicas, 1, "replica count `N` of the JetStream buckets this OP creates (registry, and with --persist requests, tokens, jtis and lockouts): 1 on one NATS server, 3 on a 3-node cluster")
	c.boolVar(&o.insecureNATS, "insecure-nats-non-loopback", "let --nats-addr be a non-loopback address although the embedded NATS server has no TLS: enrollment passwords then cross the network in clear")
	c.boolVar(&o.persist, "persist", "keep pending requests, refresh tokens, the replay cache of client JWTs, user_code lockouts and ping/push deliveries in NATS JetStream (in STATE-DIR/jetstream with the embedded server; --nats-url needs JetStream) so they survive a restart and OPs on one NATS server or cluster share them (docs/deployment.md)")
	c.env["persist"] = "CIBA_OP_PERSIST"
	c.durationVar(&o.interval, "interval", "CIBA_OP_INTERVAL", 5*time.Second, "minimum `TIME` between polls, sent as interval (CIBA §7.3)")
	c.durationVar(&o.longPoll, "long-poll", "CIBA_OP_LONG_POLL", 0, "hold a poll on a pending request up to `TIME` (at most 25s) and answer as soon as the user decides, so a poll-mode flow needs one token request (long polling, which CIBA allows the OP; clients should allow 30 s per token request); 0 answers at once")
	c.durationVar(&o.defaultExpiry, "default-expiry", "CIBA_OP_DEFAULT_EXPIRY", 120*time.Second, "expires_in (`TIME`) when the client sends no requested_expiry")
	c.durationVar(&o.minExpiry, "min-expiry", "CIBA_OP_MIN_EXPIRY", time.Second, "lower bound (`TIME`) of a requested_expiry")
	c.durationVar(&o.maxExpiry, "max-expiry", "CIBA_OP_MAX_EXPIRY", 600*time.Second, "upper bound (`TIME`) of a requested_expiry")
	c.boolVar(&o.userCode, "user-code", "accept user_code from clients registered with --user-code (CIBA §7.1.2)")
	c.env["user-code"] = "CIBA_OP_ACCEPT_USER_CODE"
	c.stringVar(&o.notifyCAFile, "notification-ca-file", "CIBA_OP_NOTIFICATION_CA_FILE", "", "PEM `FILE` of extra CAs trusted for clients' ping and push endpoints (CIBA §10.2, §10.3), besides the system roots and the OP's default CA, which issues them with 'cert issue'")
	c.stringVar(&o.accessTokenAlg, "access-token-alg", "CIBA_OP_ACCESS_TOKEN_ALG", "ES256", "`ALG` signing the JWT access tokens (RFC 9068), which only the OP verifies: ES256 or RS256; both verify at userinfo, introspection and revocation whichever signs")
	c.intVar(&o.deviceDecisionRate, "device-decision-rate", "CIBA_OP_DEVICE_DECISION_RATE", 200, "`N` decisions a second one authentication device may send (and N at once); more are answered rate_limited, so one device cannot flood the OP")
	c.intVar(&o.maxTokenConcurrency, "max-token-concurrency", "CIBA_OP_MAX_TOKEN_CONCURRENCY", 64, "`N` token requests handled at once; more get 503 temporarily_unavailable with Retry-After (CIBA §11); negative for no limit")
	c.stringVar(&o.metricsAddr, "metrics-addr", "CIBA_OP_METRICS_ADDR", "", "serve Prometheus metrics at http://`HOST:PORT`/metrics, with /healthz and /readyz (plain HTTP, loopback only unless --metrics-allow-remote); port 0 picks a free port; off when empty")
	c.boolVar(&o.metricsAllowRemote, "metrics-allow-remote", "let --metrics-addr be a non-loopback address: anyone who reaches it reads the metrics, which name clients")
	c.stringVar(&o.controlAddr, "control-addr", "CIBA_OP_CONTROL_ADDR", "", "serve the control API (docs/control-api.md) on `HOST:PORT`, a loopback address; port 0 picks a free port. Its bearer token is printed on stderr and written to STATE-DIR/control-token")
	c.boolVar(&o.controlAllowRemote, "control-allow-remote", "let --control-addr be a non-loopback address: whoever reaches it with the token can register clients and approve any request")
	c.boolVar(&o.testClock, "test-clock", "run the OP on a test clock that the control API can move forward (POST /clock/advance)")
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
	if o.longPoll < 0 || o.longPoll > op.MaxLongPoll {
		return c.usageError(e, fmt.Sprintf("--long-poll %s: want 0 to %s", o.longPoll, op.MaxLongPoll))
	}
	if o.deviceDecisionRate < 1 || o.deviceDecisionRate > 1_000_000 {
		return c.usageError(e, fmt.Sprintf("--device-decision-rate %d: want 1 to 1000000", o.deviceDecisionRate))
	}
	if o.maxTokenConcurrency == 0 {
		return c.usageError(e, "--max-token-concurrency 0: want a positive number, or a negative one for no limit")
	}
	if o.accessTokenAlg != "ES256" && o.accessTokenAlg != "RS256" {
		return c.usageError(e, fmt.Sprintf("--access-token-alg %q: want ES256 or RS256", o.accessTokenAlg))
	}
	if o.publicHost != "" {
		if _, _, err := oprun.SplitPublicHost(o.publicHost); err != nil {
			return c.usageError(e, "--public-host: "+err.Error())
		}
	}
	if err := channel.ValidRealm(o.realm); err != nil {
		return c.usageError(e, "--realm: "+err.Error())
	}
	if err := checkListenAddr(o.addr); err != nil {
		return c.usageError(e, "--addr "+err.Error())
	}
	if o.natsURL == "" {
		if err := checkListenAddr(o.natsAddr); err != nil {
			return c.usageError(e, "--nats-addr "+err.Error())
		}
	}
	var registryKey []byte
	switch o.registry {
	case oprun.RegistryDir:
	case oprun.RegistryJetStream:
		if o.natsURL == "" {
			return c.usageError(e, "--registry jetstream needs --nats-url: a NATS server or cluster with JetStream (the embedded server keeps the registry in --state-dir)")
		}
		if o.registryKeyFile == "" {
			return c.usageError(e, "--registry jetstream needs --registry-key-file: the key that encrypts the private keys in JetStream (head -c 32 /dev/urandom > FILE; chmod 600 FILE), the same for every OP")
		}
		key, err := registry.ReadKeyFile(o.registryKeyFile)
		if err != nil {
			return c.usageError(e, "--registry-key-file: "+err.Error())
		}
		registryKey = key
	default:
		return c.usageError(e, fmt.Sprintf("--registry %q: want dir or jetstream", o.registry))
	}
	var callout nkeys.KeyPair
	if o.calloutSeedFile != "" {
		if o.natsURL == "" {
			return c.usageError(e, "--nats-auth-callout-seed-file needs --nats-url: the embedded NATS server admits devices itself")
		}
		kp, err := readCalloutSeed(o.calloutSeedFile)
		if err != nil {
			return c.usageError(e, "--nats-auth-callout-seed-file: "+err.Error())
		}
		callout = kp
	}
	if o.replicas < 1 || o.replicas > 5 {
		return c.usageError(e, fmt.Sprintf("--replicas %d: want 1 to 5", o.replicas))
	}
	if o.replicas > 1 && o.natsURL == "" {
		return c.usageError(e, "--replicas above 1 needs --nats-url: the embedded NATS server is a single node")
	}
	if o.metricsAddr != "" {
		if err := checkListenAddr(o.metricsAddr); err != nil {
			return c.usageError(e, "--metrics-addr "+err.Error())
		}
		if !o.metricsAllowRemote && !oprun.Loopback(o.metricsAddr) {
			return c.usageError(e, fmt.Sprintf("--metrics-addr %q is not a loopback address: the metrics are served without TLS or authentication; use 127.0.0.1, or pass --metrics-allow-remote", o.metricsAddr))
		}
	}
	if o.controlAddr != "" {
		if err := control.CheckAddr(o.controlAddr, o.controlAllowRemote); err != nil {
			return c.usageError(e, "--control-addr "+err.Error())
		}
		if o.natsURL != "" {
			return c.usageError(e, "--control-addr needs the embedded NATS server, where it enrolls its devices; drop --nats-url")
		}
	} else if o.controlAllowRemote {
		return c.usageError(e, "--control-allow-remote without --control-addr")
	} else if o.testClock {
		return c.usageError(e, "--test-clock without --control-addr: only the control API moves the clock")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return c.usageError(e, fmt.Sprintf("--log-level %q: want debug, info, warn or error", o.logLevel))
	}
	logger := c.logger(e, level)
	var notifyRoots *x509.CertPool
	if o.notifyCAFile != "" {
		pool, err := pki.CertPoolFromPEMFile(o.notifyCAFile)
		if err != nil {
			return c.usageError(e, "--notification-ca-file: "+err.Error())
		}
		notifyRoots = pool
	}
	err := serve(ctx, e, o, startKeys{registry: registryKey, callout: callout}, notifyRoots, logger)
	switch {
	case errors.Is(err, errStopped):
		return exitInterrupted
	case err != nil:
		return c.fail(e, exitError, startFailure(err))
	}
	return exitOK
}

// errStopped reports that serve stopped because its context was cancelled
// (SIGINT or SIGTERM): a clean stop, exit code 130.
var errStopped = errors.New("stopped")

// startKeys are the keys serve read from the files its flags name.
type startKeys struct {
	registry []byte        // --registry-key-file
	callout  nkeys.KeyPair // --nats-auth-callout-seed-file
}

// serve runs the OP until ctx is done.
func serve(ctx context.Context, e Env, o serveOptions, keys startKeys, notifyRoots *x509.CertPool, logger *slog.Logger) error {
	now := e.Now
	var clock *control.Clock
	if o.testClock {
		clock = control.NewClock(e.Now)
		now = clock.Now
	}
	var ctl controlHooks
	cfg := oprun.Config{
		StateDir:                o.stateDir,
		Addr:                    o.addr,
		Realm:                   o.realm,
		PublicHost:              o.publicHost,
		NATSAddr:                o.natsAddr,
		NATSURL:                 o.natsURL,
		InsecureNATSNonLoopback: o.insecureNATS,
		Persist:                 o.persist,
		Registry:                o.registry,
		RegistryKey:             keys.registry,
		NATSAuthCallout:         keys.callout,
		Replicas:                o.replicas,
		PasswordIterations:      servePasswordIterations(e),
		MetricsAddr:             o.metricsAddr,
		MetricsAllowRemote:      o.metricsAllowRemote,
		DeviceLimits: bus.DeviceLimits{
			DecideBurst:    o.deviceDecisionRate,
			DecideInterval: time.Second / time.Duration(o.deviceDecisionRate),
		},
		Provider: op.Config{
			Interval:          o.interval,
			LongPoll:          o.longPoll,
			DefaultExpiry:     o.defaultExpiry,
			MinExpiry:         o.minExpiry,
			MaxExpiry:         o.maxExpiry,
			UserCodeSupported: o.userCode,
			NotificationRoots: notifyRoots,
			AccessTokenAlg:    o.accessTokenAlg,

			MaxConcurrentTokenRequests: o.maxTokenConcurrency,
		},
		Now:    now,
		Logger: logger,
	}
	if o.controlAddr != "" {
		ctl.install(&cfg.Provider)
	}
	s, err := oprun.Start(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	var ready ReadyInfo
	if o.controlAddr != "" {
		ctlURL, stop, err := startControl(e, o, s, clock, ctl, logger)
		if err != nil {
			return err
		}
		defer stop()
		ready.ControlURL = ctlURL
	}
	for _, line := range s.Report.Created {
		fmt.Fprintln(e.Stdout, "created "+line)
	}
	printNextSteps(e, s.Dir, s.Report, s.Issuer, s.NATSURL)
	if s.MetricsAddr != "" {
		fmt.Fprintf(e.Stdout, "metrics http://%s/metrics\n", s.MetricsAddr)
	}
	fmt.Fprintf(e.Stdout, "ciba-op ready issuer=%s nats=%s state-dir=%s\n", s.Issuer, s.NATSURL, s.Dir.Path())
	if e.Ready != nil {
		ready.Issuer, ready.HTTPAddr, ready.NATSURL, ready.StateDir = s.Issuer, s.HTTPAddr, s.NATSURL, s.Dir.Path()
		ready.MetricsAddr = s.MetricsAddr
		e.Ready(ready)
	}
	select {
	case err := <-s.Err():
		return fmt.Errorf("HTTPS server: %w", err)
	case <-ctx.Done():
		logger.Info("op.stopping")
		return errStopped
	}
}

// intVar defines an int flag; env, when not empty, is the variable
// consulted when the flag is not given.
func (c *command) intVar(p *int, name, env string, def int, usage string) {
	c.fs.IntVar(p, name, def, usage)
	if env != "" {
		c.env[name] = env
	}
}

// printNextSteps prints the commands that complete the flow against this OP.
func printNextSteps(e Env, dir *registry.Dir, report *registry.InitReport, issuer, natsURL string) {
	rel := func(p string) string {
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
				return r
			}
		}
		return p
	}
	w := e.Stdout
	fmt.Fprintf(w, "next, in a second terminal (the authentication device):\n  %s --nats-url %s --user user\n", e.bin("ciba-authenticator"), natsURL)
	if report.ClientP12 != "" {
		fmt.Fprintf(w, "then, in a third terminal (the consumption device):\n  %s --issuer %s --client-id cibaConformance --cert %s --cert-password-file %s --ca-file %s --login-hint user --binding-message \"Message\"\n",
			e.bin("ciba-client"), shellQuote(issuer), shellQuote(rel(report.ClientP12)), shellQuote(rel(report.ClientP12PasswordFile)), shellQuote(rel(dir.CAFile())))
	}
}

// servePasswordIterations reads the PBKDF2 iteration count knob used by tests;
// 0 lets the state package choose its default.
func servePasswordIterations(e Env) int {
	var n int
	fmt.Sscan(e.getenv("CIBA_OP_PASSWORD_ITERATIONS"), &n)
	return n
}
