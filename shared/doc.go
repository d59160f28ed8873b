// Package shared is the root of the contract module between the cibalab
// programs. The contract itself lives in three small packages:
//
//   - [github.com/cibalab/cibalab/shared/oauth]: CIBA and OAuth 2.0 vocabulary, wire types and the
//     one OAuth error type with its HTTP status.
//   - [github.com/cibalab/cibalab/shared/channel]: the NATS approval channel: versioned subjects
//     and the messages exchanged between the OP and authentication devices.
//   - [github.com/cibalab/cibalab/shared/pki]: PKCS#12 and PEM loading, x5t#S256 thumbprints and
//     writing key material with 0600 permissions.
//
// Beside the contract, [github.com/cibalab/cibalab/shared/progenv] gives the zero values of
// every command-line program's Env (no environment variables, the system
// clock) one meaning.
package shared
