// Package fakeop is a test double of the cibalab OpenID Provider: an
// httptest TLS server that asks for a client certificate
// (VerifyClientCertIfGiven, as RFC 8705 §6.1 suggests), authenticates the
// client with tls_client_auth (certificate chained to its CA, subject CN
// equal to the client_id in the form, RFC 8705 §2.1), serves discovery with
// mtls_endpoint_aliases (RFC 8705 §5), and answers the backchannel
// authentication (CIBA Core 1.0 §7) and token (§10.1) endpoints with
// scripted replies, including the refresh grant. Successful token replies
// carry an ES256 ID token signed with a key published at the JWKS endpoint,
// valid unless a test tampers with it (IDToken). Notify plays the OP's
// side of ping and push. It records every request so tests can assert what
// the client sent and when.
//
// It also holds the small certificate authority the tests need.
package fakeop
