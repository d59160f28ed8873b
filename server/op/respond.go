package op

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cibalab/cibalab/shared/oauth"
)

// endpointKind tells which table of error statuses applies.
type endpointKind int

const (
	oauthBackchannel endpointKind = iota // CIBA Core 1.0 §13
	oauthToken                           // CIBA Core 1.0 §11, RFC 6749 §5.2
)

// newError returns the error constructor of the kind's table.
func (k endpointKind) newError() func(code, format string, args ...any) *oauth.Error {
	if k == oauthBackchannel {
		return oauth.BackchannelError
	}
	return oauth.TokenError
}

// handlerFunc is an endpoint: it writes a success itself, or returns an
// error that endpoint() turns into the response.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// clientHandlerFunc is an endpoint that a client calls with a form and its
// credentials; it gets the parsed form and the authenticated client.
type clientHandlerFunc func(w http.ResponseWriter, r *http.Request, form url.Values, client *authenticatedClient) error

// clientEndpoint is endpoint() for the endpoints a client authenticates
// at (CIBA Core 1.0 §7.2 step 1, RFC 6749 §3.2.1, RFC 7009 §2.1,
// RFC 7662 §2.1): it reads the form strictly (parseForm) and authenticates
// the client (authenticateClient), answering with the kind's errors, and
// only then calls h.
func (p *Provider) clientEndpoint(name string, h clientHandlerFunc, kind endpointKind) http.Handler {
	newErr := kind.newError()
	return p.endpoint(name, func(w http.ResponseWriter, r *http.Request) error {
		form, err := p.parseForm(w, r, newErr)
		if err != nil {
			return err
		}
		client, err := p.authenticateClient(r, form, newErr)
		if err != nil {
			return err
		}
		noteClient(w, client.ID)
		err = h(w, r, form, client)
		switch e := err.(type) {
		case nil:
			return nil
		case *refusal:
			e.clientID = client.ID
			return e
		case *oauth.Error:
			if pollNoise(e) {
				return e // not logged: the transition authreq.polled is
			}
		}
		return &refusal{error: err, clientID: client.ID}
	}, kind)
}

// refusal is an endpoint's error with what it concerns, for the log line
// endpoint() writes: the authenticated client and the auth_req_id (logged
// as its reference, oauth.ReqRef).
type refusal struct {
	error
	clientID  string
	authReqID string
}

func (e *refusal) Unwrap() error { return e.error }

// refusedFor marks err as concerning the request authReqID.
func refusedFor(authReqID string, err error) error {
	return &refusal{error: err, authReqID: authReqID}
}

// pollNoise reports the answers to a poll that only say "not yet"
// (authorization_pending, slow_down; CIBA Core 1.0 §11): the request's
// transition authreq.polled logs them, at debug level.
func pollNoise(e *oauth.Error) bool {
	return e.Code == oauth.ErrAuthorizationPending || e.Code == oauth.ErrSlowDown
}

// endpoint adapts a handlerFunc: every error becomes an OAuth error
// response, logged as endpoint.refused at a level implied by its status
// (with the client and the request's reference when known, and the
// internal cause), with internal causes kept out of error_description.
// Polls answered authorization_pending or slow_down are not logged here:
// their transition is (authreq.polled).
func (p *Provider) endpoint(name string, h handlerFunc, kind endpointKind) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		oe := toOAuthError(err, kind)
		noteError(w, oe.Code)
		if !pollNoise(oe) {
			p.logRefusal(r, name, err, oe)
		}
		if oe.Code == oauth.ErrInvalidClient && oe.Status == http.StatusUnauthorized && usedBasicAuth(r) {
			// RFC 6749 §5.2: the client tried the Basic scheme
			// (client_secret_basic), so the 401 carries its challenge.
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Basic realm="%s"`, p.cfg.Issuer))
		}
		writeError(w, oe)
	})
}

// logRefusal logs an endpoint's error err, answered as oe, in one line
// endpoint.refused: at error level for a 5xx, else at warn level.
func (p *Provider) logRefusal(r *http.Request, endpoint string, err error, oe *oauth.Error) {
	attrs := []any{"endpoint", endpoint, "error", oe.Code, "status", oe.Status}
	var rf *refusal
	if errors.As(err, &rf) {
		if rf.authReqID != "" {
			attrs = append(attrs, oauth.LogAttrReq, oauth.ReqRef(rf.authReqID))
		}
		if rf.clientID != "" {
			attrs = append(attrs, "client_id", rf.clientID)
		}
	}
	if oe.Status >= 500 && oe.Cause == nil {
		attrs = append(attrs, "cause", err.Error())
	} else if oe.Description != "" {
		attrs = append(attrs, "description", oe.Description)
	}
	if oe.Cause != nil {
		attrs = append(attrs, "cause", oe.Cause.Error())
	}
	if oe.Status >= 500 && oe.Code != oauth.ErrTemporarilyUnavailable {
		p.log.ErrorContext(r.Context(), "endpoint.refused", attrs...)
		return
	}
	// temporarily_unavailable too: load shedding or a test throttle, not a fault
	p.log.WarnContext(r.Context(), "endpoint.refused", attrs...)
}

// toOAuthError maps any error to an OAuth error: an *oauth.Error passes
// through, anything else is a server_error whose cause is not disclosed.
func toOAuthError(err error, kind endpointKind) *oauth.Error {
	var oe *oauth.Error
	if errors.As(err, &oe) {
		return oe
	}
	return kind.newError()(oauth.ErrServerError, "internal error")
}

// usedBasicAuth reports whether the request carries an Authorization
// header of the Basic scheme (RFC 7617), well-formed or not.
func usedBasicAuth(r *http.Request) bool {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "Basic")
}

// writeError writes an RFC 6749 §5.2 error body; 503 carries Retry-After
// (CIBA Core 1.0 §11). invalid_client carries a WWW-Authenticate challenge
// only when the client used the Basic scheme (endpoint does that): RFC 6749
// §5.2 asks for one only when the client used an HTTP authentication
// scheme, and mutual TLS is none.
func writeError(w http.ResponseWriter, e *oauth.Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	writeJSONStatus(w, e.Status, e)
}

// writeJSONStatus writes v as JSON with Cache-Control: no-store
// (CIBA Core 1.0 §10.1.1, RFC 6749 §5.1).
func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":"server_error","error_description":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// tokenRef is a short, non-reversible reference to a token (a refresh
// token, an access token's jti) for logs: the same hash prefix as
// oauth.ReqRef, so it reveals nothing that would let anyone use the token.
func tokenRef(secret string) string { return oauth.ReqRef(secret) }
