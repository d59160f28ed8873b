package op

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// bearerError is a resource endpoint refusal (RFC 6750 §3): its status, and
// the error code for the WWW-Authenticate challenge and the body; an empty
// code is a challenge without error, for a request without any token
// (RFC 6750 §3.1).
type bearerError struct {
	status      int
	code        string
	description string
}

func (e *bearerError) Error() string { return e.code + ": " + e.description }

// errInsufficientScope is the RFC 6750 §3.1 error for a token without the
// scope the resource needs.
const errInsufficientScope = "insufficient_scope"

func invalidToken(format string, args ...any) error {
	return &bearerError{status: http.StatusUnauthorized, code: oauth.ErrInvalidToken, description: fmt.Sprintf(format, args...)}
}

// userinfo is the UserInfo endpoint (OpenID Connect Core 1.0 §5.3), GET or
// POST. The access token comes as a Bearer token in the Authorization
// header (RFC 6750 §2.1) or, with POST, in a form-encoded access_token
// parameter (§2.2); both at once is invalid_request. The token must be
// one this OP issued, unexpired and unrevoked, and, when it is bound to a
// certificate (it always is for mutual-TLS clients), the TLS client
// certificate of this request must be that one: its x5t#S256 must equal
// the token's cnf (RFC 8705 §3). Any failure is 401
// invalid_token with a WWW-Authenticate: Bearer challenge (RFC 6750 §3.1).
// The token must carry the openid scope (OpenID Connect Core 1.0 §5.3):
// without it the answer is 403 insufficient_scope, with the challenge
// (RFC 6750 §3.1).
// The answer has sub, plus name with the profile scope and email with the
// email scope (OpenID Connect Core 1.0 §5.4), when the user has them.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	claims, err := p.authorizeBearer(w, r)
	if err == nil && !slices.Contains(strings.Fields(claims.Scope), oauth.ScopeOpenID) {
		err = &bearerError{status: http.StatusForbidden, code: errInsufficientScope,
			description: "the access token was not granted the openid scope"}
	}
	if err == nil {
		var user *registry.User
		user, err = p.cfg.Users.User(claims.Subject)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			err = invalidToken("the token's user no longer exists")
		case err == nil:
			writeJSONStatus(w, http.StatusOK, userinfoClaims(user, strings.Fields(claims.Scope)))
			return
		}
	}
	var be *bearerError
	if !errors.As(err, &be) {
		p.log.Error("endpoint.refused", "endpoint", EndpointUserinfo, "error", oauth.ErrServerError, "status", http.StatusInternalServerError, "cause", err.Error())
		noteError(w, oauth.ErrServerError)
		writeError(w, oauth.TokenError(oauth.ErrServerError, "internal error"))
		return
	}
	p.log.Warn("endpoint.refused", "endpoint", EndpointUserinfo, "error", be.code, "status", be.status, "description", be.description)
	noteError(w, be.code)
	challenge := fmt.Sprintf(`Bearer realm="%s"`, p.cfg.Issuer)
	if be.code != "" {
		challenge += fmt.Sprintf(`, error="%s", error_description="%s"`, be.code, be.description)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	if be.code == "" {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(be.status)
		return
	}
	writeJSONStatus(w, be.status, &oauth.Error{Code: be.code, Description: be.description})
}

// authorizeBearer extracts the access token of a resource request and
// checks it and its certificate binding (RFC 6750 §2, RFC 8705 §3).
func (p *Provider) authorizeBearer(w http.ResponseWriter, r *http.Request) (*accessTokenClaims, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		return nil, &bearerError{status: http.StatusMethodNotAllowed, code: oauth.ErrInvalidRequest, description: "the method must be GET or POST"}
	}
	badRequest := func(desc string) error {
		return &bearerError{status: http.StatusBadRequest, code: oauth.ErrInvalidRequest, description: desc}
	}
	var token string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, value, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(value) == "" {
			return nil, invalidToken("the Authorization header must carry a Bearer token")
		}
		token = strings.TrimSpace(value)
	}
	if r.Method == http.MethodPost {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			form, err := p.parseForm(w, r, oauth.TokenError)
			if err != nil {
				return nil, badRequest("the form is malformed")
			}
			if form.Has("access_token") {
				if token != "" {
					return nil, badRequest("the access token must be sent one way only")
				}
				token = form.Get("access_token")
			}
		}
	}
	if token == "" {
		return nil, &bearerError{status: http.StatusUnauthorized, description: "no access token"}
	}
	claims, err := p.parseAccessToken(r.Context(), token)
	if errors.Is(err, errBadAccessToken) {
		return nil, invalidToken("the access token is invalid, expired or revoked")
	}
	if err != nil {
		return nil, err
	}
	if claims.Cnf == nil {
		return claims, nil // a plain bearer token: no certificate was used to get it
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, invalidToken("the access token is bound to a client certificate; none was presented")
	}
	if pki.ThumbprintS256(r.TLS.PeerCertificates[0]) != claims.Cnf.X5tS256 {
		return nil, invalidToken("the access token is bound to another certificate")
	}
	return claims, nil
}

// userinfoClaims are the claims of user released for scopes
// (OpenID Connect Core 1.0 §5.4).
func userinfoClaims(u *registry.User, scopes []string) map[string]any {
	out := map[string]any{"sub": u.ID}
	if slices.Contains(scopes, "profile") && u.Name != "" {
		out["name"] = u.Name
	}
	if slices.Contains(scopes, "email") && u.Email != "" {
		out["email"] = u.Email
	}
	return out
}
