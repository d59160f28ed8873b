// Package oprun assembles a complete, running OpenID Provider from its
// parts: the state directory (package state), the embedded or external NATS
// server (package bus), the request store (package store) and the HTTP
// endpoints (package op), behind a TLS listener that requests client
// certificates (RFC 8705 §2, §6.1). "ciba-op serve" and the optest harness
// build the same Server.
package oprun
