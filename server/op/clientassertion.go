package op

import (
	"errors"
	"net/url"
	"slices"

	"github.com/cibalab/cibalab/server/registry"
)

// verifyClientAssertion implements private_key_jwt (RFC 7523 §2.2 and §3,
// OpenID Connect Core 1.0 §9): client_assertion_type is the JWT bearer
// type; client_assertion is a JWS signed with a key of the client's jwks
// and an accepted algorithm; iss and sub are the client_id; aud contains
// the issuer or the URL of the token or backchannel authentication
// endpoint; exp is required, not past and at most 60 minutes ahead; nbf and
// iat, when present, are not in the future (with Config.ClockSkew); the
// jti is required and used once.
func (p *Provider) verifyClientAssertion(c *registry.Client, form url.Values) error {
	if form.Get(paramClientAssertionType) != clientAssertionTypeJWT {
		return errors.New("client_assertion_type is not " + clientAssertionTypeJWT)
	}
	claims, _, err := verifyJWS(form.Get(paramClientAssertion), p.clientAlgs(), clientKeys(c.JWKS))
	if err != nil {
		return err
	}
	iss, _, _ := claimString(claims, "iss")
	sub, _, _ := claimString(claims, "sub")
	if iss != c.ID || sub != c.ID {
		return errors.New("iss and sub must be the client_id")
	}
	aud, err := audience(claims)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(aud, func(a string) bool {
		return a == p.cfg.Issuer || a == p.url(pathToken) || a == p.url(pathBCAuthorize)
	}) {
		return errors.New("aud must contain the issuer or the endpoint URL")
	}
	now, skew := p.cfg.Now(), p.clockSkew()
	exp, ok, err := claimTime(claims, "exp")
	switch {
	case err != nil || !ok:
		return errors.New("exp is required")
	case now.After(exp.Add(skew)):
		return errors.New("exp has passed")
	case exp.After(now.Add(maxClientJWTLifetime + skew)):
		return errors.New("exp is more than 60 minutes ahead")
	}
	for _, name := range []string{"nbf", "iat"} {
		t, ok, err := claimTime(claims, name)
		if err != nil || (ok && t.After(now.Add(skew))) {
			return errors.New(name + " is in the future or malformed")
		}
	}
	jti, ok, err := claimString(claims, "jti")
	if err != nil || !ok || jti == "" || len(jti) > maxJTILen {
		return errors.New("jti is required")
	}
	return p.useJTI(c.ID, "assertion\x00"+c.ID+"\x00"+jti, exp.Add(skew), now)
}
