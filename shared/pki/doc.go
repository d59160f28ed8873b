// Package pki holds the certificate helpers both sides of RFC 8705 mutual
// TLS need: loading a client certificate from PKCS#12 or PEM, building a
// trust pool from PEM, encoding PKCS#12 with modern algorithms, computing
// the x5t#S256 certificate thumbprint (RFC 8705 §3.1), and writing secret
// files with 0600 permissions.
package pki
