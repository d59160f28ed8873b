package ciba

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/cibalab/cibalab/shared/oauth"
)

// WellKnownPath is appended to the issuer to find its metadata
// (OpenID Connect Discovery 1.0 §4).
const WellKnownPath = "/.well-known/openid-configuration"

// Discover fetches the provider metadata from
// <Issuer>/.well-known/openid-configuration (OpenID Connect Discovery 1.0
// §4), checks that its issuer is exactly Issuer (§4.3), and fills
// BackchannelAuthURL and TokenURL, when they are empty, preferring the
// mutual-TLS endpoint aliases as RFC 8705 §5 requires. Discovered endpoints
// must be https URLs. It also fills JWKSURL from jwks_uri. A provider that
// lists its delivery modes without the Config's mode (CIBA Core 1.0 §4), or
// its request signing algorithms without the one of RequestKey, is refused.
func (c *Config) Discover(ctx context.Context) (*oauth.ProviderMetadata, error) {
	if c.Issuer == "" {
		return nil, errors.New("ciba: Discover needs an Issuer")
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("ciba: issuer must be an https URL without query or fragment (OpenID Connect Discovery 1.0 §3)")
	}
	endpoint := strings.TrimSuffix(c.Issuer, "/") + WellKnownPath
	c.logger().DebugContext(ctx, "ciba.discover", "endpoint", endpoint)
	resp, err := c.get(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, resp.problem("discovery answered with HTTP status %d, want 200", resp.status)
	}
	if err := resp.requireJSON(); err != nil {
		return nil, err
	}
	var md oauth.ProviderMetadata
	if err := json.Unmarshal(resp.body, &md); err != nil {
		return nil, resp.problem("malformed provider metadata: %s", jsonProblem(err))
	}
	if md.Issuer != c.Issuer {
		return nil, resp.problem("issuer %q does not match the expected %q (OpenID Connect Discovery 1.0 §4.3)", firstLine(md.Issuer), c.Issuer)
	}
	if len(md.BackchannelTokenDeliveryModesSupported) > 0 &&
		!slices.Contains(md.BackchannelTokenDeliveryModesSupported, c.mode()) {
		return nil, resp.problem("the provider does not support the %s delivery mode (CIBA Core 1.0 §4)", c.mode())
	}
	if c.RequestKey != nil {
		algs := md.BackchannelAuthRequestSigningAlgValuesSupported
		if alg, err := signingAlg(c.RequestKey); err == nil && len(algs) > 0 && !slices.Contains(algs, alg) {
			return nil, resp.problem("the provider does not accept %s signed authentication requests (CIBA Core 1.0 §4)", alg)
		}
	}
	if md.JWKSURI != "" {
		if ju, err := url.Parse(md.JWKSURI); err != nil || ju.Scheme != "https" || ju.Host == "" {
			return nil, resp.problem("jwks_uri is not an https URL")
		}
	}
	bc := md.MTLSEndpoint("backchannel_authentication_endpoint")
	tok := md.MTLSEndpoint("token_endpoint")
	for _, e := range []struct{ name, url string }{{"backchannel_authentication_endpoint", bc}, {"token_endpoint", tok}} {
		if e.url == "" {
			return nil, resp.problem("provider metadata without %s (CIBA Core 1.0 §4)", e.name)
		}
		if eu, err := url.Parse(e.url); err != nil || eu.Scheme != "https" || eu.Host == "" {
			return nil, resp.problem("%s is not an https URL", e.name)
		}
	}
	if c.BackchannelAuthURL == "" {
		c.BackchannelAuthURL = bc
	}
	if c.TokenURL == "" {
		c.TokenURL = tok
	}
	if c.JWKSURL == "" {
		c.JWKSURL = md.JWKSURI
	}
	return &md, nil
}
