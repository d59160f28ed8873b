package ciba

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"
)

// DefaultMaxResponseBytes is the largest response body read when
// Config.MaxResponseBytes is zero.
const DefaultMaxResponseBytes = 1 << 20

// Config describes a CIBA client and the provider it talks to. The zero
// value of every optional field is a documented default. A Config must not
// be changed while Start or Wait run; Discover changes it.
type Config struct {
	// Issuer is the provider's issuer identifier, used by Discover.
	Issuer string
	// BackchannelAuthURL is the backchannel authentication endpoint
	// (CIBA Core 1.0 §7); Discover fills it when it is empty.
	BackchannelAuthURL string
	// TokenURL is the token endpoint (CIBA Core 1.0 §10.1); Discover fills
	// it when it is empty.
	TokenURL string
	// ClientID is sent in every request body, as mutual-TLS client
	// authentication requires (RFC 8705 §2).
	ClientID string
	// HTTPClient carries the client certificate and the trusted roots (see
	// NewHTTPClient); nil means http.DefaultClient, without a certificate.
	// Redirects are never followed for the POST requests, whatever the
	// client's own policy.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits for d or until ctx is done, returning ctx.Err() in the
	// latter case; nil means a timer honouring ctx. Tests inject a fake.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives debug and info events; nil discards them. Tokens are
	// never logged, and an auth_req_id only as a short SHA-256 prefix.
	Logger *slog.Logger
	// MaxResponseBytes bounds every response body; 0 means
	// DefaultMaxResponseBytes. A larger body is a *ResponseError.
	MaxResponseBytes int64
}

func (c *Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Config) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c *Config) maxBytes() int64 {
	if c.MaxResponseBytes <= 0 {
		return DefaultMaxResponseBytes
	}
	return c.MaxResponseBytes
}

// postClient returns the configured client with redirects disabled: a
// token or backchannel request is never replayed to another URL.
func (c *Config) postClient() *http.Client {
	base := c.HTTPClient
	if base == nil {
		base = http.DefaultClient
	}
	hc := *base
	hc.CheckRedirect = noRedirect
	return &hc
}

func (c *Config) getClient() *http.Client {
	if c.HTTPClient == nil {
		return http.DefaultClient
	}
	return c.HTTPClient
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// IDHash returns a short SHA-256 prefix of an auth_req_id, fit for logs
// and progress lines where the identifier itself must not appear.
func IDHash(authReqID string) string {
	sum := sha256.Sum256([]byte(authReqID))
	return hex.EncodeToString(sum[:6])
}
