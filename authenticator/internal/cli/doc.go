// Package cli is the ciba-authenticator command: an authentication device
// simulator for OpenID Connect CIBA (CIBA Core 1.0 §8: the OP
// authenticates the end user on the authentication device, showing the
// client, the scope and the binding message, and obtains consent).
//
// The device is enrolled once (enroll, or on the fly at the first run
// when the password is at hand): its keys live in a device directory
// (github.com/cibalab/cibalab/authenticator/devicedir) and it connects to the OP's NATS
// server with its own nkey (github.com/cibalab/cibalab/authenticator/device). It then shows
// each authentication request like a phone notification card and sends the
// user's decision, signed with the device key. Decisions are interactive
// (on a terminal the full-screen phone of
// github.com/cibalab/cibalab/authenticator/internal/phone, or with --plain
// cards read by single keys with a live countdown; lines otherwise; the
// device PIN before approving), scripted (--auto, --delay, --rules), taken
// one at a time (list, approve ID, deny ID), or asked for over HTTP by a
// test harness (--approval-hook-listen, the automated_ciba_approval_url
// convention of the OpenID conformance suite).
//
// The acr and amr claims of a decision (RFC 8176) say how the user was
// authenticated on the device: acr urn:cibalab:acr:pin and amr
// ["pin","swk"] when the device PIN was checked, else amr ["swk"] (proof
// of possession of a software-secured key: only the device key stood
// behind the decision). Cards and the phone show the acr a request asks
// for as asked, and warn before approving when an approval cannot carry
// it (no PIN on the device, or an acr the device never gives).
//
// A card leaves the screen, with one plain line, when the OP says its
// request was decided on another device, redeemed or expired, or when the
// request expires; a request is shown at most once. A decision the OP
// does not answer is sent again until it lapses and is then reported as
// not delivered (and never applied). Logs go to --log-file when given,
// else to stderr, except while cards are shown on a terminal and stderr
// is a terminal too (taken to be the same screen): there they are
// dropped, so that no log line lands inside a card.
//
// Main reads flags, then CIBA_AUTH_* environment variables, then
// defaults; it never reads the process environment itself, so tests pass
// their own.
package cli
