// Package interop holds tests that run the ciba package against an
// independent OpenID Provider: the npm package oidc-provider (v9), with its
// CIBA (poll and ping) and mutual-TLS features on, started by
// interop/oidc-provider-op.mjs with a certificate authority, signing keys
// and clients the tests create. Install it with `npm ci` in interop/.
package interop
