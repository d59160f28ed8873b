package ciba

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/shared/oauth"
)

// Client authentication methods (RFC 8705 §2.1 and §2.2, OpenID Connect
// Core 1.0 §9).
const (
	// AuthTLSClient is PKI mutual-TLS client authentication: the
	// certificate of Config.HTTPClient, chained to a CA the provider trusts.
	AuthTLSClient = oauth.AuthTLSClient
	// AuthSelfSignedTLSClient is self-signed mutual-TLS client
	// authentication: the same transport as AuthTLSClient, with a
	// certificate registered at the provider in the client's jwks.
	AuthSelfSignedTLSClient = oauth.AuthSelfSignedTLSClient
	// AuthPrivateKeyJWT authenticates with a client_assertion JWT signed
	// with Config.AssertionKey (RFC 7523 §2.2).
	AuthPrivateKeyJWT = "private_key_jwt"
)

// ClientAssertionType is the client_assertion_type of private_key_jwt
// (RFC 7523 §2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Lifetimes of the JWTs the client signs.
const (
	// AssertionLifetime is the exp of a client_assertion after its iat.
	AssertionLifetime = 60 * time.Second
	// DefaultRequestLifetime is the exp of a signed authentication request
	// after its nbf when Config.RequestLifetime is zero.
	DefaultRequestLifetime = 5 * time.Minute
	// MaxRequestLifetime is the longest lifetime FAPI-CIBA ID1 §5.2.2
	// allows a signed authentication request.
	MaxRequestLifetime = 60 * time.Minute
)

// checkAuth checks the client authentication settings.
func (c *Config) checkAuth() error {
	switch c.AuthMethod {
	case "", AuthTLSClient, AuthSelfSignedTLSClient:
	case AuthPrivateKeyJWT:
		if c.AssertionKey == nil {
			return errors.New("ciba: private_key_jwt needs an AssertionKey")
		}
		if _, err := signingAlg(c.AssertionKey); err != nil {
			return err
		}
		if c.Issuer == "" {
			return errors.New("ciba: private_key_jwt needs the Issuer (the client_assertion's aud)")
		}
	default:
		return fmt.Errorf("ciba: unsupported client authentication method %q (tls_client_auth, self_signed_tls_client_auth, private_key_jwt)", c.AuthMethod)
	}
	if c.RequestKey != nil {
		if _, err := signingAlg(c.RequestKey); err != nil {
			return err
		}
		if c.Issuer == "" {
			return errors.New("ciba: signed authentication requests need the Issuer (the request object's aud)")
		}
		if c.RequestLifetime > MaxRequestLifetime {
			return errors.New("ciba: RequestLifetime must not exceed 60 minutes (FAPI-CIBA ID1 §5.2.2)")
		}
	}
	return nil
}

// authenticate adds client authentication to form: client_id always
// (RFC 8705 §2 requires it with mutual TLS), and with private_key_jwt a
// client_assertion (RFC 7523 §2.2, §3): iss and sub the client_id, aud
// the issuer, a fresh jti, iat now and exp 60 s later.
func (c *Config) authenticate(form url.Values) error {
	form.Set(oauth.ParamClientID, c.ClientID)
	if c.AuthMethod != AuthPrivateKeyJWT {
		return nil
	}
	now := c.now()
	assertion, err := signJWT(c.AssertionKey, c.AssertionKeyID, "", jwt.MapClaims{
		"iss": c.ClientID,
		"sub": c.ClientID,
		"aud": c.Issuer,
		"jti": newJTI(),
		"iat": unix(now),
		"exp": unix(now.Add(AssertionLifetime)),
	})
	if err != nil {
		return err
	}
	form.Set("client_assertion_type", ClientAssertionType)
	form.Set("client_assertion", assertion)
	return nil
}

// requestObject signs params as the request object of a signed
// authentication request (CIBA Core 1.0 §7.1.1): every parameter inside,
// requested_expiry as a JSON number, iss the client_id, aud the issuer,
// iat and nbf now, exp RequestLifetime later, and a fresh jti.
func requestObject(key crypto.Signer, kid, clientID, issuer string, params url.Values, requestedExpiry int, now time.Time, lifetime time.Duration) (string, error) {
	if lifetime <= 0 {
		lifetime = DefaultRequestLifetime
	}
	claims := jwt.MapClaims{}
	for k := range params {
		claims[k] = params.Get(k)
	}
	if ad := params.Get(oauth.ParamAuthorizationDetails); ad != "" {
		// A JSON array inside the request object (RFC 9396 §3).
		claims[oauth.ParamAuthorizationDetails] = json.RawMessage(ad)
	}
	if requestedExpiry > 0 {
		claims[oauth.ParamRequestedExpiry] = requestedExpiry
	}
	claims[oauth.ParamClientID] = clientID
	claims["iss"] = clientID
	claims["aud"] = issuer
	claims["iat"] = unix(now)
	claims["nbf"] = unix(now)
	claims["exp"] = unix(now.Add(lifetime))
	claims["jti"] = newJTI()
	return signJWT(key, kid, "", claims)
}

// SigningAlgorithm returns the JWS algorithm the client signs with when
// given key: ES256 for an ECDSA P-256 key, PS256 for an RSA key of at
// least 2048 bits; other keys are refused.
func SigningAlgorithm(key crypto.Signer) (string, error) { return signingAlg(key) }
