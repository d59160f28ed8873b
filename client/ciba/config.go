package ciba

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
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

	// DeliveryMode is how the token reaches the client (CIBA Core 1.0 §5):
	// "" or poll, ping or push. Ping and push need Notifications.
	DeliveryMode oauth.DeliveryMode
	// Notifications is the client notification endpoint that receives
	// pings and pushes (CIBA Core 1.0 §10.2, §10.3); its URL is the
	// client's registered backchannel_client_notification_endpoint.
	Notifications *NotificationServer

	// AuthMethod is the client authentication method: "" or
	// tls_client_auth, self_signed_tls_client_auth (both use the
	// certificate of HTTPClient), or private_key_jwt (AssertionKey).
	AuthMethod string
	// AssertionKey signs the client_assertion of private_key_jwt (ES256
	// for an ECDSA P-256 key, PS256 for RSA); AssertionKeyID is its kid.
	AssertionKey   crypto.Signer
	AssertionKeyID string
	// RequestKey, when set, signs every authentication request as a
	// request object (CIBA Core 1.0 §7.1.1), with RequestKeyID as kid.
	RequestKey   crypto.Signer
	RequestKeyID string
	// RequestLifetime is the request object's exp after its nbf; 0 means
	// DefaultRequestLifetime; at most MaxRequestLifetime.
	RequestLifetime time.Duration

	// JWKSURL is the provider's jwks_uri, which checks ID token
	// signatures; Discover fills it when it is empty.
	JWKSURL string
	// IDTokens checks ID tokens; nil means a validator built from Issuer,
	// ClientID, JWKSURL, HTTPClient and IDTokenMaxAge for each call.
	IDTokens *IDTokenValidator
	// IDTokenMaxAge is how old an ID token's iat may be; 0 means
	// DefaultIDTokenMaxAge. Used when IDTokens is nil.
	IDTokenMaxAge time.Duration
	// InsecureSkipIDTokenValidation accepts ID tokens unchecked. It is
	// for experiments only: without it an ID token cannot be forged.
	InsecureSkipIDTokenValidation bool
}

// mode returns the delivery mode, poll by default.
func (c *Config) mode() oauth.DeliveryMode {
	if c.DeliveryMode == "" {
		return oauth.ModePoll
	}
	return c.DeliveryMode
}

// checkClient checks the settings every request needs.
func (c *Config) checkClient() error {
	if c.ClientID == "" {
		return errors.New("ciba: no client_id (RFC 8705 §2 requires it in the body)")
	}
	if !c.mode().Valid() {
		return fmt.Errorf("ciba: delivery mode %q is not poll, ping or push", c.DeliveryMode)
	}
	if c.mode() != oauth.ModePoll && c.Notifications == nil {
		return fmt.Errorf("ciba: %s mode needs a notification server (Config.Notifications)", c.mode())
	}
	return c.checkAuth()
}

// checkIDToken checks the ID token of tok, when it has one, and stores
// its claims in tok.IDTokenClaims.
func (c *Config) checkIDToken(ctx context.Context, tok *Token, e Expect) error {
	if tok.IDToken == "" || c.InsecureSkipIDTokenValidation {
		return nil
	}
	v := c.IDTokens
	if v == nil {
		if c.Issuer == "" {
			return errors.New("ciba: cannot check the id_token without the Issuer (set Issuer, or InsecureSkipIDTokenValidation)")
		}
		var err error
		v, err = NewIDTokenValidator(IDTokenConfig{
			Issuer:   c.Issuer,
			ClientID: c.ClientID,
			Keys:     NewKeySet(KeySetConfig{URL: c.JWKSURL, HTTPClient: c.getClient(), MaxResponseBytes: c.MaxResponseBytes, Now: c.Now, Logger: c.Logger}),
			MaxAge:   c.IDTokenMaxAge,
			Now:      c.Now,
		})
		if err != nil {
			return err
		}
	}
	claims, err := v.Validate(ctx, tok.IDToken, e)
	if err != nil {
		return err
	}
	tok.IDTokenClaims = claims
	return nil
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
