// Package cli implements the ciba-client command: the consumption device of
// OpenID Connect CIBA (CIBA Core 1.0) with mutual-TLS client authentication
// (RFC 8705). It starts a backchannel authentication request, polls the
// token endpoint until the user answers on the authentication device, and
// prints the access token on stdout.
//
// Main holds all the logic so that tests drive the command in-process;
// cmd/ciba-client only wires it to the process. Settings come from flags,
// then CIBA_CLIENT_* environment variables, then defaults. stdout carries
// only the result (the access token, or one JSON document with --json);
// progress and errors go to stderr. Exit codes are stable and listed in
// --help.
package cli
