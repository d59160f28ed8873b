package oauth

import (
	"fmt"
	"net/http"
)

// Error codes of RFC 6749 §5.2, CIBA Core 1.0 §11 (token endpoint) and §13
// (backchannel authentication endpoint), and RFC 6750 §3.1.
const (
	ErrInvalidRequest         = "invalid_request"
	ErrInvalidScope           = "invalid_scope"
	ErrExpiredLoginHintToken  = "expired_login_hint_token"
	ErrUnknownUserID          = "unknown_user_id"
	ErrUnauthorizedClient     = "unauthorized_client"
	ErrMissingUserCode        = "missing_user_code"
	ErrInvalidUserCode        = "invalid_user_code"
	ErrInvalidBindingMessage  = "invalid_binding_message"
	ErrInvalidClient          = "invalid_client"
	ErrAccessDenied           = "access_denied"
	ErrAuthorizationPending   = "authorization_pending"
	ErrSlowDown               = "slow_down"
	ErrExpiredToken           = "expired_token"
	ErrInvalidGrant           = "invalid_grant"
	ErrUnsupportedGrantType   = "unsupported_grant_type"
	ErrTransactionFailed      = "transaction_failed"
	ErrInvalidToken           = "invalid_token"
	ErrServerError            = "server_error"
	ErrTemporarilyUnavailable = "temporarily_unavailable"
	// ErrInvalidAuthorizationDetails refuses an authorization_details
	// value (RFC 9396 §5).
	ErrInvalidAuthorizationDetails = "invalid_authorization_details"
)

// Error is an OAuth 2.0 error response: the JSON body of RFC 6749 §5.2 plus
// the HTTP status it travels with. Only Code, Description and URI are
// serialised (CIBA Core 1.0 §13 allows no other members).
//
// Every constructor returns a fresh value; never share an *Error.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	URI         string `json:"error_uri,omitempty"`
	// Status is the HTTP status code of the response.
	Status int `json:"-"`
	// RetryAfter, when positive, is sent as a Retry-After header in seconds
	// (CIBA Core 1.0 §11 allows 503 with Retry-After under load).
	RetryAfter int `json:"-"`
	// Cause is the internal reason for the error, for the log: it never
	// reaches the response. errors.Unwrap returns it.
	Cause error `json:"-"`
}

// WithCause sets the error's Cause and returns it.
func (e *Error) WithCause(cause error) *Error {
	e.Cause = cause
	return e
}

// Unwrap returns the Cause.
func (e *Error) Unwrap() error { return e.Cause }

// Error implements the error interface as "code: description".
func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// BackchannelError returns an error of the backchannel authentication
// endpoint with the status CIBA Core 1.0 §13 gives its code: 401 for
// invalid_client, 403 for access_denied, 500 for server_error, 400 otherwise.
func BackchannelError(code, format string, args ...any) *Error {
	return &Error{Code: code, Description: describe(format, args), Status: BackchannelStatus(code)}
}

// TokenError returns an error of the token endpoint with the status
// CIBA Core 1.0 §11 and RFC 6749 §5.2 give its code: 401 for invalid_client,
// 500 for server_error, 503 for temporarily_unavailable, 400 otherwise
// (access_denied included).
func TokenError(code, format string, args ...any) *Error {
	return &Error{Code: code, Description: describe(format, args), Status: TokenStatus(code)}
}

// BackchannelStatus is the HTTP status of code at the backchannel
// authentication endpoint (CIBA Core 1.0 §13).
func BackchannelStatus(code string) int {
	switch code {
	case ErrAccessDenied:
		return http.StatusForbidden
	default:
		return TokenStatus(code)
	}
}

// TokenStatus is the HTTP status of code at the token endpoint
// (CIBA Core 1.0 §11, RFC 6749 §5.2) and the resource endpoints (RFC 6750 §3.1).
func TokenStatus(code string) int {
	switch code {
	case ErrInvalidClient, ErrInvalidToken:
		return http.StatusUnauthorized
	case ErrServerError:
		return http.StatusInternalServerError
	case ErrTemporarilyUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

func describe(format string, args []any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}
