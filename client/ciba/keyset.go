package ciba

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/cibalab/cibalab/shared/pki"
)

// DefaultJWKSRefreshInterval is the least time between two fetches of a
// key set when KeySetConfig.MinRefreshInterval is zero.
const DefaultJWKSRefreshInterval = 10 * time.Second

// KeySetConfig configures a [KeySet].
type KeySetConfig struct {
	// URL is the provider's jwks_uri (OpenID Connect Discovery 1.0 §3).
	URL string
	// HTTPClient fetches the key set; nil means http.DefaultClient.
	HTTPClient *http.Client
	// MinRefreshInterval is the least time between two fetches: an unknown
	// kid triggers one fetch at most this often; 0 means
	// DefaultJWKSRefreshInterval.
	MinRefreshInterval time.Duration
	// MaxResponseBytes bounds the key set document; 0 means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives fetch events; nil discards them.
	Logger *slog.Logger
}

// KeySet is a provider's JSON Web Key Set (RFC 7517 §5), fetched on first
// use, cached, and fetched again once when a token names a kid it does not
// hold (OpenID Connect Core 1.0 §10.1.1), at most once per
// MinRefreshInterval. It is safe for concurrent use.
type KeySet struct {
	cfg KeySetConfig

	mu      sync.Mutex
	keys    *pki.JWKS
	fetched time.Time // when the last fetch was made (successful or not)
	fetches int
}

// NewKeySet returns a key set for cfg.URL; nothing is fetched yet.
func NewKeySet(cfg KeySetConfig) *KeySet {
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = DefaultJWKSRefreshInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &KeySet{cfg: cfg}
}

// Fetches reports how many times the key set was fetched.
func (ks *KeySet) Fetches() int {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.fetches
}

// Key returns the public key with kid usable with the JWS algorithm alg.
// With an empty kid, the set must hold exactly one key fit for alg.
func (ks *KeySet) Key(ctx context.Context, kid, alg string) (crypto.PublicKey, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	fresh := false
	if ks.keys == nil {
		if err := ks.fetch(ctx); err != nil {
			return nil, err
		}
		fresh = true
	}
	key, err := pickKey(ks.keys, kid, alg)
	var ke *keyError
	if err == nil || !errors.As(err, &ke) || !ke.noKey || fresh {
		return key, err
	}
	if ks.cfg.Now().Sub(ks.fetched) < ks.cfg.MinRefreshInterval {
		return nil, err
	}
	ks.cfg.Logger.DebugContext(ctx, "ciba.jwks_refresh", "kid", kid)
	if ferr := ks.fetch(ctx); ferr != nil {
		return nil, ferr
	}
	return pickKey(ks.keys, kid, alg)
}

func (ks *KeySet) fetch(ctx context.Context) error {
	ks.fetched = ks.cfg.Now()
	ks.fetches++
	if ks.cfg.URL == "" {
		return errors.New("ciba: no jwks_uri to check the id_token signature (call Discover or set JWKSURL)")
	}
	c := &Config{HTTPClient: ks.cfg.HTTPClient, MaxResponseBytes: ks.cfg.MaxResponseBytes}
	resp, err := c.get(ctx, ks.cfg.URL)
	if err != nil {
		return err
	}
	if resp.status != http.StatusOK {
		return resp.problem("the JWKS endpoint answered with HTTP status %d, want 200", resp.status)
	}
	mt, _, _ := mime.ParseMediaType(resp.header.Get("Content-Type"))
	if mt != "application/json" && mt != "application/jwk-set+json" {
		return resp.problem("JWKS content type %q, want application/json", firstLine(resp.header.Get("Content-Type")))
	}
	var set pki.JWKS
	if err := json.Unmarshal(resp.body, &set); err != nil {
		return resp.problem("malformed JWKS: %s", jsonProblem(err))
	}
	ks.keys = &set
	ks.cfg.Logger.DebugContext(ctx, "ciba.jwks", "keys", len(set.Keys))
	return nil
}

// keyError is a key set that holds no usable key for a token; noKey
// marks a missing kid, which may be cured by fetching the set again.
type keyError struct {
	msg   string
	noKey bool
}

func (e *keyError) Error() string { return e.msg }

func keyErrorf(noKey bool, format string, args ...any) error {
	return &keyError{msg: fmt.Sprintf(format, args...), noKey: noKey}
}

// pickKey finds the key for kid and alg in set.
func pickKey(set *pki.JWKS, kid, alg string) (crypto.PublicKey, error) {
	var found []pki.JWK
	for _, k := range set.Keys {
		if kid != "" && k.Kid != kid {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Alg != "" && k.Alg != alg {
			continue
		}
		if (alg == AlgES256 && k.Kty != "EC") || (alg != AlgES256 && k.Kty != "RSA") {
			continue
		}
		found = append(found, k)
	}
	switch {
	case len(found) == 0 && kid != "":
		return nil, keyErrorf(true, "the provider's JWKS has no %s key with kid %q", alg, firstLine(kid))
	case len(found) == 0:
		return nil, keyErrorf(true, "the provider's JWKS has no %s key", alg)
	case len(found) > 1:
		return nil, keyErrorf(false, "the provider's JWKS has %d %s keys and the token names no kid", len(found), alg)
	}
	pub, err := found[0].PublicKey()
	if err != nil {
		return nil, keyErrorf(false, "unusable key %q in the provider's JWKS: %v", firstLine(found[0].Kid), err)
	}
	if ec, ok := pub.(*ecdsa.PublicKey); ok && ec.Curve != elliptic.P256() {
		return nil, keyErrorf(false, "key %q is not on P-256, as ES256 requires", firstLine(found[0].Kid))
	}
	if _, ok := pub.(*rsa.PublicKey); ok && alg == AlgES256 {
		return nil, keyErrorf(false, "key %q is an RSA key, not fit for ES256", firstLine(found[0].Kid))
	}
	return pub, nil
}
