// Package interop holds the interoperability tests: an independent CIBA
// implementation from npm, openid-client (interop/package-lock.json pins
// it), runs as the consumption device against an OP that server/optest
// starts in process for each run, over HTTPS with mutual TLS, in poll and
// ping modes, while the test approves or denies through the user's
// authentication device that optest enrolls over NATS. It has no non-test
// code.
//
// The tests need Node.js 20 or later and interop/node_modules: run
// `npm ci` in interop/ (scripts/test.sh and .ci/run do).
package interop
