package ciba_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/client/internal/fakeop"
)

func TestNewHTTPClientRefusesOldTLS(t *testing.T) {
	ca := fakeop.NewCA(t, "ca")
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.ServerCert(t)}, MaxVersion: tls.VersionTLS11}
	srv.Config.ErrorLog = discardLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	hc := ciba.NewHTTPClient(tls.Certificate{}, ca.Pool, false)
	resp, err := hc.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("TLS 1.1 server accepted")
	}
}

func TestNewHTTPClientDoesNotFollowRedirects(t *testing.T) {
	ca := fakeop.NewCA(t, "ca")
	srv := httptest.NewUnstartedServer(http.RedirectHandler("/elsewhere", http.StatusFound))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.ServerCert(t)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := &ciba.Config{Issuer: srv.URL + "/master", HTTPClient: ciba.NewHTTPClient(tls.Certificate{}, ca.Pool, false)}
	_, err := c.Discover(context.Background())
	var re *ciba.ResponseError
	if !errors.As(err, &re) || re.Status != http.StatusFound {
		t.Fatalf("err = %v, want a ResponseError for the 302", err)
	}
}
