// Package devicekey holds the signing key of an authentication device: an
// ECDSA P-256 key used with ES256 (RFC 7518 §3.4) to sign the decisions the
// device sends to the OpenID Provider over the approval channel (CIBA Core
// 1.0 §8 leaves that channel to the deployment).
//
// A key is identified by its JWK thumbprint (RFC 7638), which is also the
// "kid" of its public JWK and of every JWT it signs. A device generates its
// key once, at enrollment, registers the public half with the OP and keeps
// the private half in its device directory (MarshalPEM, ParsePEM; see
// github.com/cibalab/cibalab/authenticator/devicedir).
package devicekey
