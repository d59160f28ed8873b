// Package cli is the ciba-authenticator command: an authentication device
// simulator for OpenID Connect CIBA (CIBA Core 1.0 §8: the OP
// authenticates the end user on the authentication device, showing the
// client, the scope and the binding message, and obtains consent).
//
// It signs in to the OP over NATS (cibalab/authenticator/device), shows
// each authentication request like a phone notification card and sends
// the user's decision, signed with the device key. Decisions are either
// interactive (a line on stdin) or scripted (--auto approve|deny after
// --delay).
//
// The amr claim of a decision (RFC 8176) says how the user was
// authenticated: ["pwd"] for an interactive decision, since the person at
// the terminal signed in with the user's password; ["swk"] (proof of
// possession of a software-secured key) for a scripted one, since only the
// device key stood behind it.
//
// Main reads flags, then CIBA_AUTH_* environment variables, then
// defaults; it never reads the process environment itself, so tests pass
// their own.
package cli
