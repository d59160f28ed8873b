package ciba

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"cibalab/shared/oauth"
)

// Refresh exchanges refreshToken at the token endpoint
// (grant_type=refresh_token, RFC 6749 §6) with the same client
// authentication as the CIBA grant, so the new access token is bound to
// the client's current certificate (RFC 8705 §7.1). When the provider
// rotates refresh tokens the response carries a new one; otherwise the
// returned Token's RefreshToken is refreshToken again, so callers always
// keep Token.RefreshToken for the next call. An ID token in the response
// is checked like any other (OpenID Connect Core 1.0 §12.2).
func (c *Config) Refresh(ctx context.Context, refreshToken string) (*Token, error) {
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
	rotated := tok.RefreshToken != "" && tok.RefreshToken != refreshToken
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	if err := c.checkIDToken(ctx, tok, Expect{AccessToken: tok.AccessToken}); err != nil {
		return nil, err
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
	resp, err := c.postForm(ctx, c.TokenURL, form)
	if err != nil {
		return nil, err
	}
	received := c.now()
	if resp.status != http.StatusOK {
		return nil, resp.oauthError(received)
	}
	if err := resp.requireJSON(); err != nil {
		return nil, err
	}
	tok, problem := decodeToken(resp.body)
	if problem != "" {
		return nil, resp.problem("%s", problem)
	}
	tok.ReceivedAt = received
	return tok, nil
}
