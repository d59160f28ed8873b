// Package bench is ciba-bench: it starts ciba-op (with its embedded NATS
// server and a ciba-authenticator approving at once) and oidc-provider 9
// (interop/oidc-provider-op.mjs, with its simulated user) on loopback,
// drives each in turn with the same load generator and settings, and
// prints one table of figures and ratios (docs/performance.md).
//
// Every load loop is bounded in count and in time, every address is
// 127.0.0.1, and everything the bench starts (processes, the temporary
// directory) is stopped and removed when it returns, also on an error or
// an interrupt. No test asserts a speed.
package bench
