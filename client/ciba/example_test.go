package ciba_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/shared/oauth"
)

// exampleOP is a minimal provider for the examples: it acknowledges every
// backchannel request and answers the token endpoint with
// authorization_pending once, then with tokens (or with deny's error).
func exampleOP(deny bool) *httptest.Server {
	polls := 0
	mux := http.NewServeMux()
	mux.HandleFunc("/master/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := "https://" + r.Host + "/master"
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q,"backchannel_authentication_endpoint":%q,
			"backchannel_token_delivery_modes_supported":["poll"],
			"mtls_endpoint_aliases":{"token_endpoint":%q,"backchannel_authentication_endpoint":%q}}`,
			iss, iss+"/token", iss+"/bc-authorize", iss+"/mtls/token", iss+"/mtls/bc-authorize")
	})
	mux.HandleFunc("/master/mtls/bc-authorize", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"auth_req_id":"1c266114-a1be-4252-8ad1-04986c5b9ac1","expires_in":120,"interval":2}`)
	})
	mux.HandleFunc("/master/mtls/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.PostFormValue("grant_type") == "refresh_token" {
			fmt.Fprint(w, `{"access_token":"8xLOxBtZp8","token_type":"Bearer","expires_in":300,"refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA"}`)
			return
		}
		polls++
		switch {
		case polls == 1:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"authorization_pending"}`)
		case deny:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"access_denied","error_description":"the user said no"}`)
		default:
			fmt.Fprint(w, `{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer","expires_in":300}`)
		}
	})
	return httptest.NewTLSServer(mux)
}

// exampleConfig returns a Config for srv whose Sleep returns at once, so
// the example does not wait for real.
func exampleConfig(srv *httptest.Server) *ciba.Config {
	return &ciba.Config{
		Issuer:   srv.URL + "/master",
		ClientID: "cibaConformance",
		// In a real client: ciba.NewHTTPClient(clientCert, caPool, false).
		HTTPClient: srv.Client(),
		Sleep:      func(context.Context, time.Duration) error { return nil },
	}
}

func ExampleConfig_Discover() {
	srv := exampleOP(false)
	defer srv.Close()
	c := exampleConfig(srv)

	if _, err := c.Discover(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	// The mutual-TLS aliases win over the top-level endpoints (RFC 8705 §5).
	fmt.Println(c.BackchannelAuthURL[len(srv.URL):])
	fmt.Println(c.TokenURL[len(srv.URL):])
	// Output:
	// /master/mtls/bc-authorize
	// /master/mtls/token
}

func ExampleConfig_Start() {
	srv := exampleOP(false)
	defer srv.Close()
	c := exampleConfig(srv)
	c.BackchannelAuthURL = srv.URL + "/master/mtls/bc-authorize"

	ack, err := c.Start(context.Background(), ciba.Request{
		Scope:          []string{"openid", "profile"},
		LoginHint:      "user",
		BindingMessage: "W4SCT",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("expires in %d s, poll every %d s\n", ack.ExpiresIn, ack.Interval)
	// Output:
	// expires in 120 s, poll every 2 s
}

func ExampleConfig_Wait() {
	srv := exampleOP(false)
	defer srv.Close()
	c := exampleConfig(srv)
	ctx := context.Background()
	if _, err := c.Discover(ctx); err != nil {
		fmt.Println(err)
		return
	}
	ack, err := c.Start(ctx, ciba.Request{Scope: []string{"openid"}, LoginHint: "user"})
	if err != nil {
		fmt.Println(err)
		return
	}
	tok, err := c.Wait(ctx, ack, func(p ciba.Progress) {
		if p.LastError != "" {
			fmt.Println("poll", p.Polls, p.LastError)
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.TokenType, tok.AccessToken)
	// Output:
	// poll 1 authorization_pending
	// Bearer 2YotnFZFEjr1zCsicMWpAA
}

// Callers branch on the OAuth error code, never on the message.
func ExampleConfig_Wait_denied() {
	srv := exampleOP(true)
	defer srv.Close()
	c := exampleConfig(srv)
	ctx := context.Background()
	if _, err := c.Discover(ctx); err != nil {
		fmt.Println(err)
		return
	}
	ack, err := c.Start(ctx, ciba.Request{Scope: []string{"openid"}, LoginHint: "user"})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = c.Wait(ctx, ack, nil)
	var oe *oauth.Error
	switch {
	case errors.As(err, &oe) && oe.Code == oauth.ErrAccessDenied:
		fmt.Println("denied:", oe.Description, "HTTP", oe.Status)
	case errors.Is(err, ciba.ErrExpired):
		fmt.Println("expired")
	case err != nil:
		fmt.Println("failed:", err)
	}
	// Output:
	// denied: the user said no HTTP 400
}

func ExampleNewHTTPClient() {
	// cert would come from pki.LoadPKCS12File and roots from
	// pki.CertPoolFromPEMFile(".cibalab/ca.pem").
	var cert tls.Certificate
	hc := ciba.NewHTTPClient(cert, nil, false)
	c := &ciba.Config{Issuer: "https://localhost:5001/master", ClientID: "cibaConformance", HTTPClient: hc}
	fmt.Println(c.Issuer, hc.Timeout)
	// Output:
	// https://localhost:5001/master 1m0s
}

// A refresh keeps the client's mutual-TLS authentication; Token.RefreshToken
// is always the one to keep, rotated or not.
func ExampleConfig_Refresh() {
	srv := exampleOP(false)
	defer srv.Close()
	c := exampleConfig(srv)
	c.TokenURL = srv.URL + "/master/mtls/token"
	tok, err := c.Refresh(context.Background(), "old-refresh-token")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.AccessToken, tok.RefreshToken)
	// Output:
	// 8xLOxBtZp8 tGzv3JOkF0XG5Qx2TlKWIA
}

// Ping and push mode need the client's own HTTPS notification endpoint;
// its URL is the registered backchannel_client_notification_endpoint.
func ExampleNewNotificationServer() {
	ns, err := ciba.NewNotificationServer(ciba.NotificationServerConfig{
		Addr: "127.0.0.1:0",
		// A certificate for the URL's host that the provider trusts, e.g.
		// tls.LoadX509KeyPair of the files ciba-op cert issue writes.
		Certificate: exampleServerCertificate(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ns.Close()
	c := &ciba.Config{Issuer: "https://localhost:5001/master", ClientID: "cibaPing",
		DeliveryMode: oauth.ModePing, Notifications: ns}
	fmt.Println(c.DeliveryMode, strings.HasPrefix(ns.URL(), "https://127.0.0.1:"), strings.HasSuffix(ns.URL(), ciba.DefaultNotificationPath))
	// Output:
	// ping true true
}

// An ID token that fails a check is an *IDTokenError naming the problem.
func ExampleIDTokenValidator_Validate() {
	v, err := ciba.NewIDTokenValidator(ciba.IDTokenConfig{
		Issuer:   "https://localhost:5001/master",
		ClientID: "cibaConformance",
		Keys:     ciba.NewKeySet(ciba.KeySetConfig{URL: "https://localhost:5001/master/jwks"}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	unsigned := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyIn0."
	_, err = v.Validate(context.Background(), unsigned, ciba.Expect{})
	var ie *ciba.IDTokenError
	if errors.As(err, &ie) {
		fmt.Println(ie.Problem)
	}
	// Output:
	// alg "none" is not allowed: the ID token must be signed
}

func exampleServerCertificate() tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
