// Package cliconv holds the conventions the three programs (ciba-op,
// ciba-client, ciba-authenticator) share on their command line: one exit
// code table, one layout of the --help page, the --version line and the
// wording of error messages. Each program's internal/cli builds on it, so
// every command and every flag added later reads the same way.
package cliconv
