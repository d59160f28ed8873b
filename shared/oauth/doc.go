// Package oauth holds the OAuth 2.0 and OpenID Connect CIBA Core 1.0
// vocabulary shared by the OP and the client: the grant type URN, parameter
// and claim names, error codes with the HTTP status each endpoint answers
// with, and the JSON wire types of the backchannel authentication endpoint
// (CIBA Core 1.0 §7.3), the token endpoint (RFC 6749 §5.1, CIBA Core 1.0
// §10.1.1) and discovery (OpenID Connect Discovery 1.0 §3, RFC 8705 §5).
package oauth
