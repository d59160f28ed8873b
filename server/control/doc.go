// Package control is the OP's control API: JSON over HTTP on a loopback
// address, for tests written in any language, that do from the outside
// what package optest does inside a Go test. It registers, updates and
// removes clients and users, issues client certificates (RFC 8705 §2.1),
// lists the pending backchannel authentication requests, approves or
// denies them as the user's authentication device would (CIBA Core 1.0
// §8: a decision signed by a device enrolled for the user, sent over
// NATS, so the OP's rules apply to it as to any device), answers them by
// per-user policies, moves the OP's clock, injects faults (503 on token
// requests, CIBA Core 1.0 §11; failed notifications, §10.2, §10.3;
// dropped device connections) and reads the lifecycle of one request.
//
// Every request carries the bearer token chosen at start
// (Authorization: Bearer, compared in constant time). One file holds each
// family of endpoints: clients.go, users.go, certificates.go,
// requests.go, policies.go, clock.go, faults.go; devices.go holds the
// devices the API decides with, and events.go the event log. The routes
// and their bodies are documented in docs/control-api.md and
// docs/control-api.openapi.yaml, which a test keeps in step with the
// routes served.
package control
