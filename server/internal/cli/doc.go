// Package cli implements the ciba-op command: "serve" runs the OpenID
// Provider, and the admin commands (init, ca, client, cert, user) manage
// its state directory (see package state). Every command takes its
// streams, environment and clock from an Env, so tests drive Main exactly
// as a user would.
package cli
