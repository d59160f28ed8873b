// Package op is the OpenID Provider's HTTP surface for Client-Initiated
// Backchannel Authentication (CIBA Core 1.0) with mutual-TLS client
// authentication and certificate-bound access tokens (RFC 8705).
//
// One file per endpoint: discovery.go (OpenID Connect Discovery 1.0 §4,
// CIBA Core 1.0 §4), jwks.go, bcauthorize.go (CIBA Core 1.0 §7),
// token.go and grant_ciba.go (CIBA Core 1.0 §10, §11). clientauth.go
// authenticates clients (RFC 8705 §2), tokens.go mints JWTs (RFC 9068,
// RFC 8705 §3.1, OpenID Connect Core 1.0 §2), and decide.go applies the
// authentication device's decision (CIBA Core 1.0 §8). notify.go delivers
// the decision to ping and push clients (CIBA Core 1.0 §10.2, §10.3, §12),
// and notifyexpired.go pushes expired_token, once, to push clients whose
// request expired undecided (CIBA Core 1.0 §12).
//
// The provider holds no request state of its own: pending requests live in a
// store.Store, clients and users in a registry, so several providers may
// share them.
package op
