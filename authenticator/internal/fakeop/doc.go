// Package fakeop is a stand-in for the OpenID Provider's side of the
// approval channel (github.com/cibalab/cibalab/shared/channel, version 1), for tests: an
// embedded NATS server on a random loopback port and a responder for
// enrollment, pending lists and decisions on the per-device subjects. It
// verifies each decision JWT the way the OP must (ES256 only, with the key
// enrolled for the device the subject names, once, for a pending request
// of that device's user), records what it accepted and, as the OP does,
// tells the user's devices that the request closed. It does not
// enforce NATS permissions: github.com/cibalab/cibalab/server/bus does, and is tested there.
package fakeop
