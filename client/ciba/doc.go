// Package ciba is a client for OpenID Connect Client-Initiated Backchannel
// Authentication (CIBA Core 1.0) in poll mode, authenticating with mutual TLS
// (RFC 8705 §2).
//
// The flow has the shape of the OAuth 2.0 device flow in
// golang.org/x/oauth2: [Config.Discover] reads the provider metadata and
// picks the mutual-TLS endpoint aliases (RFC 8705 §5), [Config.Start] sends
// the backchannel authentication request (CIBA Core 1.0 §7.1) and checks the
// acknowledgement (§7.3), and [Config.Wait] polls the token endpoint
// (§10.1) until the user answers, honouring the interval, slow_down and
// Retry-After rules of §11 and the local expiry of the request.
//
// Errors returned by the provider are *oauth.Error values (package
// cibalab/shared/oauth) carrying the error code and the HTTP status; callers
// branch on the Code with errors.As, never on message text. A response that
// does not follow the specification is a *ResponseError. When the request
// expires locally, Wait returns [ErrExpired].
//
// Only poll mode is implemented. Ping mode (CIBA Core 1.0 §10.2) fits the
// same loop: a notification only ends the current wait early, after which
// the token endpoint is asked at once; push mode (§10.3) delivers the token
// response instead of the poll loop.
package ciba
