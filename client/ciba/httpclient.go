package ciba

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"time"
)

// Timeouts of the client NewHTTPClient builds. The overall timeout leaves
// room for a provider that holds a poll open for 30 s (long polling,
// CIBA Core 1.0 §10.1 via RFC 6202 §5.5).
const (
	DialTimeout           = 10 * time.Second
	TLSHandshakeTimeout   = 10 * time.Second
	ResponseHeaderTimeout = 45 * time.Second
	RequestTimeout        = 60 * time.Second
)

// NewHTTPClient returns an HTTP client for mutual TLS (RFC 8705 §2): it
// presents cert on every connection (when cert holds a certificate), trusts
// roots (nil means the system roots), requires TLS 1.2 or later, never uses
// a proxy, never follows redirects, and applies the timeouts above.
// insecureSkipVerify disables the verification of the server certificate;
// it is for experiments only.
func NewHTTPClient(cert tls.Certificate, roots *x509.CertPool, insecureSkipVerify bool) *http.Client {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		RootCAs:            roots,
		InsecureSkipVerify: insecureSkipVerify, //nolint:gosec // explicit opt-in, see the doc comment
	}
	if len(cert.Certificate) > 0 {
		// Always present the certificate, even when the server names other
		// acceptable CAs, so a mismatch is answered with invalid_client.
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		}
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   TLSHandshakeTimeout,
		ResponseHeaderTimeout: ResponseHeaderTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{
		Transport:     transport,
		Timeout:       RequestTimeout,
		CheckRedirect: noRedirect,
	}
}
