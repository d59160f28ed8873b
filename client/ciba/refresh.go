package ciba

import (
	"context"
	"errors"
	"net/url"

	"github.com/cibalab/cibalab/shared/oauth"
)

// Refresh exchanges refreshToken at the token endpoint
// (grant_type=refresh_token, RFC 6749 §6) with the same client
// authentication as the CIBA grant, so the new access token is bound to
// the client's current certificate (RFC 8705 §7.1). When the provider
// rotates refresh tokens the response carries a new one; otherwise the
// returned Token's RefreshToken is refreshToken again, so callers always
// keep Token.RefreshToken for the next call. An ID token in the response
// is checked like any other, its at_hash against the new access token and
// its rt_hash, when present, against the new refresh token. Refresh is
// RefreshFor without an original ID token.
func (c *Config) Refresh(ctx context.Context, refreshToken string) (*Token, error) {
	return c.RefreshFor(ctx, refreshToken, nil)
}

// RefreshFor is Refresh for a caller that kept the claims of the original
// ID token (Token.IDTokenClaims of the first token response): when
// original is not nil, an ID token in the refresh response must carry the
// same iss and sub (OpenID Connect Core 1.0 §12.2), else an
// *IDTokenError.
func (c *Config) RefreshFor(ctx context.Context, refreshToken string, original *IDToken) (*Token, error) {
	if refreshToken == "" {
		return nil, errors.New("ciba: Refresh needs a refresh token")
	}
	if err := c.checkClient(); err != nil {
		return nil, err
	}
	if c.TokenURL == "" {
		return nil, errors.New("ciba: no token endpoint (set TokenURL or call Discover)")
	}
	form := url.Values{}
	form.Set(oauth.ParamGrantType, oauth.GrantTypeRefreshToken)
	form.Set(oauth.ParamRefreshToken, refreshToken)
	tok, err := c.tokenRequest(ctx, form)
	if err != nil {
		c.logger().DebugContext(ctx, "ciba.refresh_failed", "error", errorCode(err))
		return nil, err
	}
	// rt_hash binds the refresh token of this response, when it has one.
	e := Expect{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}
	if original != nil {
		e.Issuer, e.Subject = original.Issuer, original.Subject
	}
	if err := c.checkIDToken(ctx, tok, e); err != nil {
		return nil, err
	}
	rotated := tok.RefreshToken != "" && tok.RefreshToken != refreshToken
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	c.logger().InfoContext(ctx, "ciba.refreshed", "rotated", rotated)
	return tok, nil
}

// tokenRequest authenticates the client, posts form to the token endpoint
// and decodes the answer (RFC 6749 §5.1, §5.2).
func (c *Config) tokenRequest(ctx context.Context, form url.Values) (*Token, error) {
	if err := c.authenticate(form); err != nil {
		return nil, err
	}
	resp, received, err := c.postForJSON(ctx, c.TokenURL, form)
	if err != nil {
		return nil, err
	}
	tok, problem := decodeToken(resp.body)
	if problem != "" {
		return nil, resp.problem("%s", problem)
	}
	tok.ReceivedAt = received
	return tok, nil
}
