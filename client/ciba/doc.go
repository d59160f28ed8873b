// Package ciba is a client for OpenID Connect Client-Initiated Backchannel
// Authentication (CIBA Core 1.0) in poll, ping and push mode, authenticating
// with mutual TLS (RFC 8705 §2) or private_key_jwt.
//
// The flow has the shape of the OAuth 2.0 device flow in
// golang.org/x/oauth2: [Config.Discover] reads the provider metadata and
// picks the mutual-TLS endpoint aliases (RFC 8705 §5), [Config.Start] sends
// the backchannel authentication request (CIBA Core 1.0 §7.1), optionally
// as a signed request object (§7.1.1), and checks the acknowledgement
// (§7.3), and [Config.Wait] waits for the user's answer: it polls the token
// endpoint (§10.1) honouring the interval, slow_down and Retry-After rules
// of §11 and the local expiry of the request; in ping mode (§10.2) a ping
// on the client's [NotificationServer] makes it ask the token endpoint at
// once; in push mode (§10.3) it receives the token response, or the error
// of §12, on that endpoint and never polls. [Config.Refresh] uses a refresh
// token (RFC 6749 §6).
//
// Every ID token is checked by an [IDTokenValidator] (OpenID Connect Core
// 1.0 §3.1.3.7): its signature against the provider's JWKS (a [KeySet],
// fetched again once when a token names an unknown kid), RS256, PS256 or
// ES256 only, iss, aud, azp, exp, iat, and the CIBA bindings at_hash,
// rt_hash and the auth_req_id claim (CIBA Core 1.0 §10.3.1).
//
// Errors returned by the provider are *oauth.Error values (package
// github.com/cibalab/cibalab/shared/oauth) carrying the error code and the HTTP status; callers
// branch on the Code with errors.As, never on message text. A response that
// does not follow the specification is a *ResponseError, an ID token that
// fails a check an *IDTokenError. When the request expires locally, Wait
// returns [ErrExpired]; in push mode, where the client cannot tell a lost
// push from an expiry, [ErrNoPush], which matches ErrExpired with errors.Is.
// The [NotificationServer] answers 204 before Wait sees a notification, so
// a program that exits when Wait returns has acknowledged it. It serves
// with the TLS certificate it is given and issues none.
//
// Logs name a request by oauth.ReqRef under the attribute oauth.LogAttrReq
// ("req"), the reference the provider and the authentication device show,
// never by its auth_req_id, a bearer secret until redeemed.
package ciba
