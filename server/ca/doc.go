// Package ca is a small certificate authority for a test laboratory: one
// self-signed ECDSA P-256 root per CA, which issues TLS server certificates
// for the OpenID Provider and client certificates for PKI mutual-TLS client
// authentication (RFC 8705 §2.1).
//
// A CA is kept on disk as two PEM files, ca.pem (the certificate, 0644) and
// ca-key.pem (the PKCS#8 private key, 0600).
package ca
