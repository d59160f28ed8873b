package op

import (
	"errors"
	"net/url"
	"slices"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Subject identifier formats accepted in the sub_id claim of a
// login_hint_token (RFC 9493 §3; "username" is this OP's own format).
const (
	subIDUsername = "username"
	subIDOpaque   = "opaque"
)

// idTokenHintAlgs returns the algorithms the OP signs ID tokens with,
// accepted in an id_token_hint.
func idTokenHintAlgs() []string { return []string{"RS256", "PS256", "ES256"} }

// countHints returns how many of the three hints of CIBA Core 1.0 §7.1
// params carries; a request carries exactly one.
func countHints(params url.Values) int {
	n := 0
	for _, h := range []string{oauth.ParamLoginHint, oauth.ParamLoginHintToken, oauth.ParamIDTokenHint} {
		if params.Has(h) {
			n++
		}
	}
	return n
}

// resolveHint maps the request's one hint to a user (CIBA Core 1.0 §7.2
// steps 4 and 5): login_hint is a user id; login_hint_token is a JWT the
// client signed (docs/login-hint-token.md); id_token_hint is an ID token
// this OP issued to this client. A hint naming no known user is
// unknown_user_id.
func (p *Provider) resolveHint(client *authenticatedClient, params url.Values) (*registry.User, error) {
	var id string
	switch {
	case params.Has(oauth.ParamLoginHint):
		id = params.Get(oauth.ParamLoginHint)
	case params.Has(oauth.ParamLoginHintToken):
		sub, err := p.loginHintTokenSubject(client.Client, params.Get(oauth.ParamLoginHintToken))
		if err != nil {
			return nil, err
		}
		id = sub
	case params.Has(oauth.ParamIDTokenHint):
		sub, err := p.idTokenHintSubject(client.ID, params.Get(oauth.ParamIDTokenHint))
		if err != nil {
			return nil, err
		}
		id = sub
	}
	if id == "" {
		return nil, oauth.BackchannelError(oauth.ErrUnknownUserID, "the hint does not identify a known user")
	}
	user, err := p.cfg.Users.User(id)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, oauth.BackchannelError(oauth.ErrUnknownUserID, "the hint does not identify a known user")
	}
	if err != nil {
		return nil, err
	}
	return user, nil
}

// loginHintTokenSubject validates a login_hint_token (CIBA Core 1.0 §7.1)
// in this OP's format (docs/login-hint-token.md) and returns the user id
// it names: a JWS signed with a key of the client's jwks and an accepted
// algorithm, iss the client, aud containing the issuer, exp required (past
// it: expired_login_hint_token), nbf and iat not in the future, and the
// user in sub or sub_id. Anything else is invalid_request.
func (p *Provider) loginHintTokenSubject(c *registry.Client, token string) (string, error) {
	bad := func(msg string) error {
		return oauth.BackchannelError(oauth.ErrInvalidRequest, "login_hint_token: %s", msg)
	}
	claims, _, err := verifyJWS(token, p.clientAlgs(), clientKeys(c.JWKS))
	if err != nil {
		return "", oauth.BackchannelError(oauth.ErrInvalidRequest, "login_hint_token: not a JWT signed with a registered key of the client").WithCause(err)
	}
	if iss, _, _ := claimString(claims, "iss"); iss != c.ID {
		return "", bad("iss must be the client_id")
	}
	if aud, err := audience(claims); err != nil || !slices.Contains(aud, p.cfg.Issuer) {
		return "", bad("aud must contain the issuer")
	}
	now, skew := p.cfg.Now(), p.clockSkew()
	exp, ok, err := claimTime(claims, "exp")
	switch {
	case err != nil || !ok:
		return "", bad("exp is required")
	case now.After(exp.Add(skew)):
		return "", oauth.BackchannelError(oauth.ErrExpiredLoginHintToken, "the login_hint_token has expired")
	}
	for _, name := range []string{"nbf", "iat"} {
		t, ok, err := claimTime(claims, name)
		if err != nil || (ok && t.After(now.Add(skew))) {
			return "", bad(name + " must be a time not in the future")
		}
	}
	return hintSubject(claims)
}

// hintSubject returns the user id of a login_hint_token: the sub claim, or
// a sub_id subject identifier (RFC 9493) of format "username" (member
// username) or "opaque" (member id). Exactly one of sub and sub_id.
func hintSubject(claims jwt.MapClaims) (string, error) {
	bad := func(msg string) error {
		return oauth.BackchannelError(oauth.ErrInvalidRequest, "login_hint_token: %s", msg)
	}
	sub, hasSub, err := claimString(claims, "sub")
	if err != nil {
		return "", bad("sub must be a string")
	}
	raw, hasSubID := claims["sub_id"]
	switch {
	case hasSub && hasSubID:
		return "", bad("give sub or sub_id, not both")
	case hasSub:
		return sub, nil
	case !hasSubID:
		return "", bad("sub or sub_id is required")
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return "", bad("sub_id must be an object")
	}
	format, _ := obj["format"].(string)
	member := map[string]string{subIDUsername: "username", subIDOpaque: "id"}[format]
	if member == "" {
		return "", bad("sub_id format must be username or opaque")
	}
	id, ok := obj[member].(string)
	if !ok {
		return "", bad("sub_id " + format + " needs a string member " + member)
	}
	return id, nil
}

// idTokenHintSubject validates an id_token_hint (CIBA Core 1.0 §7.1) and
// returns its sub: an ID token signed by this OP's keys, iss the issuer,
// aud containing clientID. An expired ID token is accepted (it only names
// the user); an access token is not an ID token. Anything else is
// invalid_request.
func (p *Provider) idTokenHintSubject(clientID, token string) (string, error) {
	bad := func(msg string) error {
		return oauth.BackchannelError(oauth.ErrInvalidRequest, "id_token_hint: %s", msg)
	}
	claims, header, err := verifyJWS(token, idTokenHintAlgs(), p.keys.jwks.Keys)
	if err != nil {
		return "", oauth.BackchannelError(oauth.ErrInvalidRequest, "id_token_hint: not an ID token issued by this OP").WithCause(err)
	}
	if typ, _ := header["typ"].(string); typ == "at+jwt" {
		return "", bad("an access token is not an ID token")
	}
	if iss, _, _ := claimString(claims, "iss"); iss != p.cfg.Issuer {
		return "", bad("not an ID token issued by this OP")
	}
	if aud, err := audience(claims); err != nil || !slices.Contains(aud, clientID) {
		return "", bad("not an ID token issued to this client")
	}
	if _, _, err := claimTime(claims, "exp"); err != nil {
		return "", bad("exp is malformed")
	}
	sub, ok, err := claimString(claims, "sub")
	if err != nil || !ok || sub == "" {
		return "", bad("sub is required")
	}
	return sub, nil
}
