package op

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/channel"
)

// Clients looks up registered clients; registry.Dir implements it.
type Clients interface {
	Client(id string) (*registry.Client, error)
}

// Users looks up users; registry.Dir implements it.
type Users interface {
	User(id string) (*registry.User, error)
}

// Announcer tells the user's authentication devices about a new request
// (CIBA Core 1.0 §8). bus.Responder implements it over NATS.
type Announcer interface {
	Announce(ctx context.Context, req channel.AuthRequest) error
}

// Config configures a Provider. Zero values are the documented defaults.
type Config struct {
	// Issuer is the issuer identifier, e.g. https://localhost:5001/master.
	// Every endpoint lives under its path. Required.
	Issuer string
	// Clients, Users and Store are required.
	Clients Clients
	Users   Users
	Store   store.Store
	// ClientCAs returns the trust anchors for tls_client_auth certificates
	// (RFC 8705 §2.1). It is called on every authentication, so a CA added
	// or removed while the provider runs takes effect at once. The pool's
	// identity is the trust store's version: return the same pool while
	// the CAs are unchanged, so that a chain verified once is not verified
	// again on every request, and a new pool when they change, which
	// forgets every verdict (registry.Dir.ClientCAPool does both). The
	// provider never modifies the pool. Required.
	ClientCAs func() (*x509.CertPool, error)
	// RS256Key and ES256Key sign tokens; RS256Key is required (OpenID
	// Connect Core 1.0 §15.1 makes RS256 the default ID token algorithm).
	RS256Key *rsa.PrivateKey
	ES256Key *ecdsa.PrivateKey
	// PublishedKeys are public keys published in the JWKS beside the
	// signing keys, which sign nothing: keys retired by a rotation
	// (registry.Dir.PublishedKeys), so that the tokens they signed still
	// verify, here and at the clients. RSA and EC P-256 keys only.
	PublishedKeys []crypto.PublicKey
	// AccessTokenAlg signs JWT access tokens (RFC 9068 §2.1): "ES256" or
	// "RS256". "" means ES256, or RS256 when ES256Key is nil. Only the OP
	// verifies access tokens, and it accepts both algorithms whichever
	// this names; ES256 costs a small fraction of an RSA-2048 signature.
	// The JWKS publishes both keys either way.
	AccessTokenAlg string
	// Announcer reaches the authentication devices; nil announces nothing.
	Announcer Announcer
	// Transitions receives every transition of every authentication
	// request (package authreq), after it is stored and logged: the NATS
	// event stream and the devices' closed notices (bus.Responder). nil
	// only logs them.
	Transitions authreq.Sink
	// Observer sees every exchange the endpoints answer and every
	// notification sent (observe.go); nil observes nothing.
	Observer Observer

	// Interval is the minimum time between polls (CIBA Core 1.0 §7.3);
	// 0 means 5 s. PollTolerance is how much sooner a poll may arrive
	// without being told slow_down, for network jitter; 0 means 500 ms.
	Interval      time.Duration
	PollTolerance time.Duration
	// DefaultExpiry is expires_in when the client sends no requested_expiry;
	// 0 means 120 s. A requested_expiry is clamped to [MinExpiry,
	// MaxExpiry]; 0 means 1 s and 600 s.
	DefaultExpiry time.Duration
	MinExpiry     time.Duration
	MaxExpiry     time.Duration
	// AccessTokenTTL and IDTokenTTL default to 10 minutes.
	AccessTokenTTL time.Duration
	IDTokenTTL     time.Duration
	// Retention is how long a request is kept after it expired, so late
	// polls get expired_token rather than invalid_grant; 0 means 10 minutes.
	Retention time.Duration
	// MaxBodyBytes bounds request bodies; 0 means 64 KiB.
	MaxBodyBytes int64
	// NotificationClient sends pings and pushes to clients' notification
	// endpoints (CIBA Core 1.0 §10.2, §10.3); nil means a client with
	// bounded timeouts (5 s) and TLS 1.2 or later that trusts the system
	// roots plus NotificationRoots. Redirects are never followed, whichever
	// client is used. Tests inject faults through its Transport.
	NotificationClient *http.Client
	// NotificationRoots are trusted for notification endpoints in addition
	// to the system roots, when NotificationClient is nil. oprun.Start
	// adds the state directory's default CA, which issues notification
	// endpoint certificates (ciba-op cert issue), to the roots it is given.
	NotificationRoots *x509.CertPool
	// WrapNotificationTransport, when not nil, wraps the transport of the
	// notification client (NotificationClient's, or the default one), so
	// that faults can be injected into a running OP (package faults).
	WrapNotificationTransport func(http.RoundTripper) http.RoundTripper
	// Tokens keeps refresh tokens and revoked access tokens; nil means a
	// new store.TokenMemory.
	Tokens store.TokenStore
	// JTIs, when not nil, is the jti store shared by OP replicas: a
	// client JWT (assertion, signed request) used at one OP is refused at
	// the others. Each OP checks its own bounded cache first. nil means
	// the OP's cache alone.
	JTIs store.JTIStore
	// Lockouts, when not nil, is the user_code lockout store shared by
	// OP replicas: wrong user_codes count across them (CIBA Core 1.0
	// §7.1.2). Each OP keeps its own limiter too. nil means that one
	// alone.
	Lockouts store.LockoutStore
	// RefreshTokenTTL is the lifetime of refresh tokens; 0 means 24 hours.
	RefreshTokenTTL time.Duration
	// RequestObjectAlgs are the JWS algorithms accepted for signed
	// authentication requests (CIBA Core 1.0 §7.1.1), and for the other
	// JWTs clients sign (private_key_jwt assertions, login_hint_tokens);
	// nil means PS256 and ES256. none and HMAC algorithms are never
	// accepted.
	RequestObjectAlgs []string
	// UserCodeSupported advertises and accepts user_code
	// (CIBA Core 1.0 §7.1.2).
	UserCodeSupported bool
	// ClockSkew is the tolerance on JWT times (iat, nbf, exp); 0 means 30 s.
	ClockSkew time.Duration
	// ACRValuesSupported are the acr values the OP asserts (OpenID
	// Connect Core 1.0 §2, acr_values_supported in discovery); nil means
	// urn:cibalab:acr:pwd and urn:cibalab:acr:pin. See selectACR.
	ACRValuesSupported []string
	// MaxConcurrentTokenRequests bounds the token requests handled at
	// once; beyond it the token endpoint answers 503
	// temporarily_unavailable with Retry-After: 1 before reading the body
	// (CIBA Core 1.0 §11 allows 503 under heavy load). 0 means 64; a
	// negative value means no bound.
	MaxConcurrentTokenRequests int
	// Throttle, when not nil, is asked about every token request once its
	// client is authenticated. When it answers throttled, the request gets
	// 503 temporarily_unavailable with a Retry-After of retryAfter rounded
	// up to whole seconds, at least 1 (CIBA Core 1.0 §11), and changes no
	// state: the poll is not recorded and counts for no slow_down. It lets
	// tests exercise a client's handling of Retry-After; it must be safe
	// for concurrent use.
	Throttle func(clientID string) (retryAfter time.Duration, throttled bool)
	// LongPoll, when positive, holds a token request on a pending
	// authentication request (not one answered slow_down) until the
	// request is decided or expires, or LongPoll has passed, and answers
	// then (long polling, checklist §3.1; longpoll.go). At most
	// MaxLongPoll; 0 answers at once.
	LongPoll time.Duration

	Now    func() time.Time
	Logger *slog.Logger
}

// Provider serves the OP's endpoints. Create it with New.
type Provider struct {
	cfg      Config
	basePath string
	keys     *keySet
	log      *slog.Logger
	// notifier delivers pings and pushes in the background (notify.go).
	notifier *notifier
	// jtis remembers the jti of client JWTs to refuse replays (jticache.go).
	jtis *jtiCache
	// userCodes counts wrong user_codes per client and user
	// (usercodelimit.go).
	userCodes *failureLimiter
	// tokenGate bounds the token requests in flight (throttle.go).
	tokenGate *gate
	// chains remembers verified client certificate chains (chaincache.go).
	chains *chainCache
	// life makes every change of an authentication request (package
	// authreq); the endpoints only map its outcomes to OAuth.
	life *authreq.Lifecycle
	// instance names this provider as the owner of the deliveries it
	// claims (notifyresume.go).
	instance string
	// holds are the polls held by long polling (longpoll.go).
	holds *holds
}

// New validates cfg, fills in defaults and returns a Provider.
func New(cfg Config) (*Provider, error) {
	u, err := url.Parse(cfg.Issuer)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("op: Issuer must be an https URL without query or fragment")
	case cfg.Clients == nil || cfg.Users == nil || cfg.Store == nil || cfg.ClientCAs == nil:
		return nil, errors.New("op: Clients, Users, Store and ClientCAs are required")
	case cfg.RS256Key == nil:
		return nil, errors.New("op: RS256Key is required")
	}
	switch cfg.AccessTokenAlg {
	case "":
		cfg.AccessTokenAlg = "ES256"
		if cfg.ES256Key == nil {
			cfg.AccessTokenAlg = "RS256"
		}
	case "RS256":
	case "ES256":
		if cfg.ES256Key == nil {
			return nil, errors.New("op: AccessTokenAlg ES256 needs ES256Key")
		}
	default:
		return nil, fmt.Errorf("op: AccessTokenAlg %q: want ES256 or RS256", cfg.AccessTokenAlg)
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	setDefault(&cfg.Interval, 5*time.Second)
	setDefault(&cfg.PollTolerance, 500*time.Millisecond)
	setDefault(&cfg.DefaultExpiry, 120*time.Second)
	setDefault(&cfg.MinExpiry, time.Second)
	setDefault(&cfg.MaxExpiry, 600*time.Second)
	setDefault(&cfg.AccessTokenTTL, 10*time.Minute)
	setDefault(&cfg.IDTokenTTL, 10*time.Minute)
	setDefault(&cfg.Retention, 10*time.Minute)
	setDefault(&cfg.RefreshTokenTTL, 24*time.Hour)
	if cfg.Tokens == nil {
		cfg.Tokens = store.NewTokenMemory()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.LongPoll < 0 || cfg.LongPoll > MaxLongPoll {
		return nil, fmt.Errorf("op: LongPoll %v: want 0 to %v", cfg.LongPoll, MaxLongPoll)
	}
	if cfg.MinExpiry > cfg.MaxExpiry || cfg.DefaultExpiry < cfg.MinExpiry || cfg.DefaultExpiry > cfg.MaxExpiry {
		return nil, errors.New("op: expiry bounds must satisfy MinExpiry <= DefaultExpiry <= MaxExpiry")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	keys, err := newKeySet(cfg.RS256Key, cfg.ES256Key, cfg.PublishedKeys...)
	if err != nil {
		return nil, err
	}
	p := &Provider{
		cfg:      cfg,
		basePath: strings.TrimSuffix(u.EscapedPath(), "/"),
		keys:     keys,
		log:      cfg.Logger,
	}
	if p.life, err = authreq.New(authreq.Config{
		Store: cfg.Store, PollTolerance: cfg.PollTolerance, SelectACR: p.selectACR, Now: cfg.Now,
		Sink: authreq.SinkFunc(p.transition),
	}); err != nil {
		return nil, err
	}
	p.notifier = newNotifier(cfg.NotificationClient, cfg.NotificationRoots, cfg.WrapNotificationTransport)
	p.jtis = newJTICache(0, 0)
	p.instance = rand.Text()
	p.userCodes = newFailureLimiter(userCodeMaxFailures, userCodeWindow, userCodeCooldown, userCodeMaxEntries)
	p.tokenGate = newGate(cfg.MaxConcurrentTokenRequests)
	p.chains = newChainCache()
	p.holds = newHolds()
	return p, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Issuer returns the issuer identifier.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// Sweep deletes requests that expired more than Retention ago, and refresh
// tokens, access token revocations, shared jtis and lockouts past their
// expiry. Serve calls it
// periodically.
func (p *Provider) Sweep(ctx context.Context) (int, error) {
	n, err := p.life.Sweep(ctx, p.cfg.Retention)
	if err != nil {
		return n, err
	}
	now := p.cfg.Now()
	m, err := p.cfg.Tokens.DeleteExpiredTokens(ctx, now)
	n += m
	if err == nil && p.cfg.JTIs != nil {
		m, err = p.cfg.JTIs.DeleteExpiredJTIs(ctx, now)
		n += m
	}
	if err == nil && p.cfg.Lockouts != nil {
		m, err = p.cfg.Lockouts.DeleteExpiredLockouts(ctx, now)
		n += m
	}
	return n, err
}

func (p *Provider) url(path string) string { return p.cfg.Issuer + path }
