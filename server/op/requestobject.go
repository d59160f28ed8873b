package op

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
)

// maxJTILen bounds the jti of client JWTs.
const maxJTILen = 256

// authParamNames returns the authentication request parameters of
// CIBA Core 1.0 §7.1: in a signed request they travel inside the JWT and
// only there (§7.1.1).
func authParamNames() []string {
	return []string{
		oauth.ParamScope, oauth.ParamClientNotificationToken, oauth.ParamACRValues,
		oauth.ParamLoginHintToken, oauth.ParamIDTokenHint, oauth.ParamLoginHint,
		oauth.ParamBindingMessage, oauth.ParamUserCode, oauth.ParamRequestedExpiry,
		oauth.ParamAuthorizationDetails,
	}
}

// requestParams returns the parameters of the authentication request: the
// claims of the signed request object when the form has a request
// parameter (CIBA Core 1.0 §7.1.1), the form itself otherwise. A client
// that requires signed requests, or registered a signing algorithm, must
// send one. With a request object no authentication parameter may also be
// sent outside it; only client authentication parameters (client_id,
// client_assertion, client_assertion_type, client_secret) stay outside.
// Every failure is invalid_request with 400.
func (p *Provider) requestParams(client *authenticatedClient, form url.Values) (url.Values, error) {
	bad := func(format string, args ...any) error {
		return oauth.BackchannelError(oauth.ErrInvalidRequest, format, args...)
	}
	if !form.Has(oauth.ParamRequest) {
		if client.RequireSignedRequest || client.BackchannelAuthRequestSigningAlg != "" {
			return nil, bad("this client must send a signed authentication request (the request parameter)")
		}
		return form, nil
	}
	for _, name := range authParamNames() {
		if form.Has(name) {
			return nil, bad("%s must be inside the request object, not beside it", name)
		}
	}
	params, err := p.parseRequestObject(client.Client, form.Get(oauth.ParamRequest))
	if err != nil {
		return nil, bad("request object: %s", err.Error())
	}
	return params, nil
}

// parseRequestObject verifies a signed authentication request
// (CIBA Core 1.0 §7.1.1, checklist §5) and returns the authentication
// parameters it carries. The JWS must verify with a key of the client's
// jwks and an accepted algorithm (the client's registered one when it has
// one); aud must contain the issuer, iss be the client_id; exp, iat, nbf
// and jti are required; exp-nbf is at most 60 minutes, nbf at most 60
// minutes in the past and not in the future, iat not in the future (each
// with Config.ClockSkew); the jti is used once. requested_expiry may be a
// JSON string or number; authorization_details is a JSON array, as
// RFC 9396 §3 puts it in a request object (returned encoded, as in a
// form); every other parameter is a string. The error
// texts are fit for error_description.
func (p *Provider) parseRequestObject(c *registry.Client, token string) (url.Values, error) {
	algs := p.clientAlgs()
	if c.BackchannelAuthRequestSigningAlg != "" {
		if !slices.Contains(algs, c.BackchannelAuthRequestSigningAlg) {
			return nil, errJWTAlg
		}
		algs = []string{c.BackchannelAuthRequestSigningAlg}
	}
	claims, _, err := verifyJWS(token, algs, clientKeys(c.JWKS))
	if err != nil {
		return nil, err
	}
	if iss, _, _ := claimString(claims, "iss"); iss != c.ID {
		return nil, errors.New("iss must be the client_id")
	}
	if id, ok, err := claimString(claims, oauth.ParamClientID); err != nil || (ok && id != c.ID) {
		return nil, errors.New("client_id must be the client_id of the authenticated client")
	}
	aud, err := audience(claims)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(aud, p.cfg.Issuer) {
		return nil, errors.New("aud must contain the issuer")
	}
	now, skew := p.cfg.Now(), p.clockSkew()
	exp, ok, err := claimTime(claims, "exp")
	if err != nil || !ok {
		return nil, errors.New("exp is required")
	}
	iat, ok, err := claimTime(claims, "iat")
	if err != nil || !ok {
		return nil, errors.New("iat is required")
	}
	nbf, ok, err := claimTime(claims, "nbf")
	if err != nil || !ok {
		return nil, errors.New("nbf is required")
	}
	jti, ok, err := claimString(claims, "jti")
	if err != nil || !ok || jti == "" || len(jti) > maxJTILen {
		return nil, fmt.Errorf("jti is required (1 to %d characters)", maxJTILen)
	}
	switch {
	case now.After(exp.Add(skew)):
		return nil, errors.New("exp has passed")
	case nbf.After(now.Add(skew)):
		return nil, errors.New("nbf is in the future")
	case nbf.Before(now.Add(-maxClientJWTLifetime - skew)):
		return nil, errors.New("nbf is more than 60 minutes in the past")
	case !exp.After(nbf) || exp.Sub(nbf) > maxClientJWTLifetime:
		return nil, errors.New("the lifetime exp-nbf must be positive and at most 60 minutes")
	case iat.After(now.Add(skew)):
		return nil, errors.New("iat is in the future")
	}
	params := url.Values{}
	for _, name := range authParamNames() {
		v, present := claims[name]
		if !present {
			continue
		}
		switch s := v.(type) {
		case []any:
			if name != oauth.ParamAuthorizationDetails {
				return nil, fmt.Errorf("%s must be a string", name)
			}
			b, err := json.Marshal(s)
			if err != nil {
				return nil, fmt.Errorf("%s is malformed", name)
			}
			params.Set(name, string(b))
		case string:
			if name == oauth.ParamAuthorizationDetails {
				return nil, fmt.Errorf("%s must be a JSON array (RFC 9396 §3)", name)
			}
			params.Set(name, s)
		case json.Number:
			if name != oauth.ParamRequestedExpiry {
				return nil, fmt.Errorf("%s must be a string", name)
			}
			params.Set(name, s.String())
		default:
			return nil, fmt.Errorf("%s must be a string", name)
		}
	}
	if err := p.jtis.use(c.ID, "request\x00"+c.ID+"\x00"+jti, exp.Add(skew), now); err != nil {
		return nil, err
	}
	return params, nil
}
