// Command ciba-client is the consumption device of OpenID Connect CIBA
// (CIBA Core 1.0) with mutual TLS (RFC 8705): it starts a backchannel
// authentication request, waits for the user's answer and prints the access
// token. Run it with --help for flags, environment and exit codes.
package main
