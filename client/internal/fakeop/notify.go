package fakeop

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"time"
)

// Notify POSTs body to a client notification endpoint (CIBA Core 1.0
// §10.2, §10.3) as the OP does: Authorization: Bearer token (omitted when
// empty), the given content type, a server certificate checked against
// roots, and no redirects followed. It returns the HTTP status.
func Notify(url string, roots *x509.CertPool, token, contentType string, body []byte) (int, error) {
	hc := &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
