package fakeop

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// DefaultClientID is the client the fake OP knows unless told otherwise.
const DefaultClientID = "cibaConformance"

// DefaultAuthReqID is the auth_req_id of the default acknowledgement.
const DefaultAuthReqID = "fake-auth-req-id-0123456789abcdef"

// Config scripts a fake OP. Every field is optional.
type Config struct {
	// ClientID is the only client: the form's client_id and the
	// certificate's subject CN must both equal it. "" means DefaultClientID.
	ClientID string
	// Ack answers an authenticated backchannel request; nil answers
	// AckReply(DefaultAuthReqID, 120, 5).
	Ack func(r Request) Reply
	// Token answers the n-th (1-based) authenticated token request with
	// the CIBA grant; nil answers TokenReply("fake-access-token") at once.
	Token func(n int, r Request) Reply
	// Refresh answers the n-th (1-based) authenticated token request with
	// the refresh_token grant; nil answers a token response with the
	// access token "refreshed-<n>" and the refresh token "rt-<n>".
	Refresh func(n int, r Request) Reply
	// Metadata, when set, edits the discovery document before it is sent.
	Metadata func(md *oauth.ProviderMetadata)
	// Now stamps the recorded requests; nil means time.Now. Tests with a
	// fake clock pass it here to assert the client's timing.
	Now func() time.Time
}

// Request is what the fake OP recorded of one request.
type Request struct {
	Method, Path, ContentType string
	Form                      url.Values
	// Cert is the client certificate presented in the TLS handshake, nil
	// when none was.
	Cert *x509.Certificate
	At   time.Time
}

// OP is a running fake provider.
type OP struct {
	// URL is the server's base URL, https://127.0.0.1:<port>.
	URL string
	// Issuer is URL + "/master".
	Issuer string
	// BackchannelURL and TokenURL are the mutual-TLS endpoints.
	BackchannelURL, TokenURL string
	// CA issued the server certificate and trusts client certificates.
	CA *CA
	// ClientCert is a valid certificate for the configured client.
	ClientCert tls.Certificate

	cfg Config
	srv *httptest.Server

	mu       sync.Mutex
	keys     []signKey
	requests []Request
	polls    int
	refresh  int
	inFlight int
	maxIn    int
}

// New starts a fake OP on a random loopback port; it stops at the end of
// the test.
func New(tb testing.TB, cfg Config) *OP {
	tb.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ca := NewCA(tb, "fakeop CA")
	op := &OP{CA: ca, ClientCert: ca.ClientCert(tb, cfg.ClientID), cfg: cfg}
	op.RotateKey(tb)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /master/.well-known/openid-configuration", op.discovery)
	mux.HandleFunc("GET /master/jwks", func(w http.ResponseWriter, _ *http.Request) { write(w, JSON(http.StatusOK, op.JWKS())) })
	mux.HandleFunc("/master/mtls/bc-authorize", op.authenticated(op.backchannel, oauth.BackchannelStatus))
	mux.HandleFunc("/master/mtls/token", op.authenticated(op.token, oauth.TokenStatus))
	mux.HandleFunc("/master/bc-authorize", op.notAlias)
	mux.HandleFunc("/master/token", op.notAlias)
	srv := httptest.NewUnstartedServer(op.record(mux))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{ca.ServerCert(tb)},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    ca.Pool,
		MinVersion:   tls.VersionTLS12,
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake failures are expected in tests
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	op.srv = srv
	op.URL = srv.URL
	op.Issuer = srv.URL + "/master"
	op.BackchannelURL = op.Issuer + "/mtls/bc-authorize"
	op.TokenURL = op.Issuer + "/mtls/token"
	return op
}

// HTTPClient returns a client that trusts the fake OP and presents cert
// (no certificate when cert is empty).
func (op *OP) HTTPClient(cert tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: op.CA.Pool, MinVersion: tls.VersionTLS12}
	if len(cert.Certificate) > 0 {
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	return &http.Client{
		Transport:     &http.Transport{TLSClientConfig: tc},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Requests returns every request received so far whose path ends with
// suffix ("" for all), in arrival order.
func (op *OP) Requests(suffix string) []Request {
	op.mu.Lock()
	defer op.mu.Unlock()
	var out []Request
	for _, r := range op.requests {
		if len(r.Path) >= len(suffix) && r.Path[len(r.Path)-len(suffix):] == suffix {
			out = append(out, r)
		}
	}
	return out
}

// Polls returns the requests received at the mutual-TLS token endpoint.
func (op *OP) Polls() []Request { return op.Requests("/mtls/token") }

// MaxInFlight is the largest number of requests the OP handled at once.
func (op *OP) MaxInFlight() int {
	op.mu.Lock()
	defer op.mu.Unlock()
	return op.maxIn
}

// Files are credentials written by WriteFiles.
type Files struct {
	CAFile, P12, CertPEM, KeyPEM string
}

// WriteFiles writes the OP's CA certificate (ca.pem), and the client
// credentials as PKCS#12 (client.p12, encrypted with password) and PEM
// (client.pem, client-key.pem), into dir.
func (op *OP) WriteFiles(tb testing.TB, dir, password string) Files {
	tb.Helper()
	f := Files{
		CAFile:  filepath.Join(dir, "ca.pem"),
		P12:     filepath.Join(dir, "client.p12"),
		CertPEM: filepath.Join(dir, "client.pem"),
		KeyPEM:  filepath.Join(dir, "client-key.pem"),
	}
	p12, err := pki.EncodePKCS12(op.ClientCert.PrivateKey, op.ClientCert.Leaf, []*x509.Certificate{op.CA.Cert}, password)
	if err != nil {
		tb.Fatal(err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(op.ClientCert.PrivateKey)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(f.CAFile, pki.EncodeCertificatePEM(op.CA.Cert), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := pki.WriteSecretFile(f.P12, p12); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(f.CertPEM, pki.EncodeCertificatePEM(op.ClientCert.Leaf), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := pki.WriteSecretFile(f.KeyPEM, keyPEM); err != nil {
		tb.Fatal(err)
	}
	return f
}

// record notes every request and the number in flight.
func (op *OP) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := Request{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), At: op.cfg.Now()}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			rec.Cert = r.TLS.PeerCertificates[0]
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<16)
			if err := r.ParseForm(); err == nil {
				rec.Form = r.PostForm
			}
		}
		op.mu.Lock()
		op.requests = append(op.requests, rec)
		op.inFlight++
		op.maxIn = max(op.maxIn, op.inFlight)
		op.mu.Unlock()
		defer func() {
			op.mu.Lock()
			op.inFlight--
			op.mu.Unlock()
		}()
		next.ServeHTTP(w, r.WithContext(withRequest(r.Context(), rec)))
	})
}

// authenticated applies tls_client_auth (RFC 8705 §2.1) before h.
func (op *OP) authenticated(h func(http.ResponseWriter, Request), status func(string) int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := requestFrom(r.Context())
		fail := func(code, desc string) { write(w, JSON(status(code), oauth.Error{Code: code, Description: desc})) }
		if r.Method != http.MethodPost {
			fail(oauth.ErrInvalidRequest, "POST required")
			return
		}
		if mt, _, _ := mime.ParseMediaType(rec.ContentType); mt != "application/x-www-form-urlencoded" {
			fail(oauth.ErrInvalidRequest, "form body required")
			return
		}
		assertion := rec.Form.Get("client_assertion_type") != ""
		switch {
		case rec.Cert == nil && !assertion:
			fail(oauth.ErrInvalidClient, "no client certificate")
		case rec.Form.Get(oauth.ParamClientID) == "":
			fail(oauth.ErrInvalidClient, "client_id missing")
		case rec.Form.Get(oauth.ParamClientID) != op.cfg.ClientID:
			fail(oauth.ErrInvalidClient, "unknown client")
		case !assertion && rec.Cert.Subject.CommonName != op.cfg.ClientID:
			fail(oauth.ErrInvalidClient, "certificate does not match the client")
		default:
			h(w, rec)
		}
	}
}

func (op *OP) backchannel(w http.ResponseWriter, r Request) {
	if op.cfg.Ack == nil {
		write(w, AckReply(DefaultAuthReqID, 120, 5))
		return
	}
	write(w, op.cfg.Ack(r))
}

// count adds one to the counter c, guarded by op.mu, and returns it.
func (op *OP) count(c *int) int {
	op.mu.Lock()
	defer op.mu.Unlock()
	*c++
	return *c
}

func (op *OP) token(w http.ResponseWriter, r Request) {
	switch r.Form.Get(oauth.ParamGrantType) {
	case oauth.GrantTypeCIBA:
		n := op.count(&op.polls)
		if op.cfg.Token == nil {
			op.writeToken(w, r, TokenReply("fake-access-token"))
			return
		}
		op.writeToken(w, r, op.cfg.Token(n, r))
	case oauth.GrantTypeRefreshToken:
		n := op.count(&op.refresh)
		if op.cfg.Refresh == nil {
			op.writeToken(w, r, TokenReplyWith("refreshed-"+strconv.Itoa(n), "rt-"+strconv.Itoa(n), &IDToken{}))
			return
		}
		op.writeToken(w, r, op.cfg.Refresh(n, r))
	default:
		write(w, TokenError(oauth.ErrUnsupportedGrantType, "CIBA and refresh grants only"))
	}
}

// writeToken writes reply, adding the ID token it asks for.
func (op *OP) writeToken(w http.ResponseWriter, r Request, reply Reply) {
	if reply.IDToken != nil {
		var body map[string]any
		if err := json.Unmarshal(reply.Body, &body); err != nil {
			write(w, Raw(http.StatusInternalServerError, "text/plain", "fakeop: token reply is not a JSON object"))
			return
		}
		at, _ := body["access_token"].(string)
		rt, _ := body["refresh_token"].(string)
		idt, err := op.mintIDToken(reply.IDToken, r.Form, at, rt)
		if err != nil {
			write(w, Raw(http.StatusInternalServerError, "text/plain", "fakeop: "+err.Error()))
			return
		}
		body["id_token"] = idt
		status := reply.Status
		reply = JSON(status, body)
		reply.Status = status
	}
	write(w, reply)
}

func (op *OP) notAlias(w http.ResponseWriter, _ *http.Request) {
	write(w, TokenError(oauth.ErrInvalidRequest, "use the mtls_endpoint_aliases (RFC 8705 §5)"))
}

func (op *OP) discovery(w http.ResponseWriter, _ *http.Request) {
	md := oauth.ProviderMetadata{
		Issuer:                                          op.Issuer,
		JWKSURI:                                         op.Issuer + "/jwks",
		TokenEndpoint:                                   op.Issuer + "/token",
		BackchannelAuthenticationEndpoint:               op.Issuer + "/bc-authorize",
		ResponseTypesSupported:                          []string{},
		SubjectTypesSupported:                           []string{"public"},
		IDTokenSigningAlgValuesSupported:                []string{"ES256"},
		GrantTypesSupported:                             []string{oauth.GrantTypeCIBA},
		TokenEndpointAuthMethodsSupported:               []string{oauth.AuthTLSClient},
		BackchannelTokenDeliveryModesSupported:          []oauth.DeliveryMode{oauth.ModePoll, oauth.ModePing, oauth.ModePush},
		BackchannelAuthRequestSigningAlgValuesSupported: []string{"PS256", "ES256"},
		TLSClientCertificateBoundAccessTokens:           true,
		MTLSEndpointAliases: map[string]string{
			"token_endpoint":                      op.TokenURL,
			"backchannel_authentication_endpoint": op.BackchannelURL,
		},
	}
	if op.cfg.Metadata != nil {
		op.cfg.Metadata(&md)
	}
	write(w, JSON(http.StatusOK, md))
}

func write(w http.ResponseWriter, r Reply) {
	for k, vs := range r.Header {
		w.Header()[k] = slices.Clone(vs)
	}
	if r.Body != nil {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "no-store")
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(r.Body) // a client that stops reading is what some tests check
}
