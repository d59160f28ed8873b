// Package fakeop is a stand-in for the OpenID Provider's side of the
// approval channel (cibalab/shared/channel, version 1), for tests: an
// embedded NATS server on a random loopback port and a responder for
// sign-in, pending and decide. It verifies each decision JWT the way the
// OP must (ES256 only, with the key registered at sign-in, once, for a
// pending request of the session's user) and records what it accepted.
package fakeop
