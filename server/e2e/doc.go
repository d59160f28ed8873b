// Package e2e holds the end-to-end tests: the real ciba-op, ciba-client and
// ciba-authenticator programs, built from this workspace, run as separate
// processes on random loopback ports and talk over HTTPS with mutual TLS and
// over NATS, as a user would run them. It has no non-test code.
package e2e
