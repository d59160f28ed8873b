package op

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/cibalab/cibalab/server/dn"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
)

// authenticatedClient is the result of client authentication: the client
// and the certificate it proved it holds on this connection, nil when it
// presented none (possible only with private_key_jwt and the secrets).
// Tokens are bound to Cert when there is one (RFC 8705 §3).
type authenticatedClient struct {
	*registry.Client
	Cert *x509.Certificate
}

// Client authentication parameters (RFC 6749 §2.3.1, RFC 7521 §4.2).
const (
	paramClientSecret        = "client_secret"
	paramClientAssertion     = "client_assertion"
	paramClientAssertionType = "client_assertion_type"
	// clientAssertionTypeJWT is the client_assertion_type of
	// private_key_jwt (RFC 7523 §2.2).
	clientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// presented tells which client credentials a request carries besides a
// certificate.
type presented struct {
	basic                bool // Authorization: Basic (client_secret_basic)
	basicID, basicSecret string
	post                 bool // client_secret in the body (client_secret_post)
	assertion            bool // client_assertion or client_assertion_type (private_key_jwt)
	certificate          *x509.Certificate
}

func presentedCredentials(r *http.Request, form url.Values) (presented, error) {
	var c presented
	if user, pass, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil {
			return c, errors.New("malformed Basic credentials")
		}
		c.basic, c.basicID, c.basicSecret = true, id, secret
	}
	c.post = form.Has(paramClientSecret)
	c.assertion = form.Has(paramClientAssertion) || form.Has(paramClientAssertionType)
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		c.certificate = r.TLS.PeerCertificates[0]
	}
	return c, nil
}

// methods counts the credential-based methods used (not the certificate,
// which a client may present with any method).
func (c presented) methods() int {
	n := 0
	for _, b := range []bool{c.basic, c.post, c.assertion} {
		if b {
			n++
		}
	}
	return n
}

// authenticateClient authenticates the caller with its registered method,
// the same at every endpoint (CIBA Core 1.0 §7.2 step 1, RFC 8705 §2):
// tls_client_auth (RFC 8705 §2.1), self_signed_tls_client_auth (§2.2),
// private_key_jwt (RFC 7523 §2.2, OpenID Connect Core 1.0 §9),
// client_secret_basic and client_secret_post (RFC 6749 §2.3.1). A request
// using more than one method is invalid_request with 400 (RFC 6749 §2.3);
// every other failure is invalid_client with 401, including credentials of
// a method other than the registered one.
func (p *Provider) authenticateClient(r *http.Request, form url.Values, newErr func(code, format string, args ...any) *oauth.Error) (*authenticatedClient, error) {
	fail := func(format string, args ...any) *oauth.Error {
		e := newErr(oauth.ErrInvalidClient, format, args...)
		e.Status = http.StatusUnauthorized
		return e
	}
	creds, err := presentedCredentials(r, form)
	if err != nil {
		return nil, fail("client authentication failed")
	}
	if creds.methods() > 1 {
		return nil, newErr(oauth.ErrInvalidRequest, "the request uses more than one client authentication method")
	}
	id := form.Get(oauth.ParamClientID)
	switch {
	case creds.basic:
		// The Basic user name is the client_id (RFC 6749 §2.3.1), also
		// for a mutual-TLS client that sends it with an empty password
		// (see match).
		if id != "" && id != creds.basicID {
			return nil, fail("client_id differs from the Basic credentials")
		}
		id = creds.basicID
	case creds.assertion && id == "":
		// RFC 7523 §3: the assertion's sub is the client_id.
		if claims, err := peekClaims(form.Get(paramClientAssertion)); err == nil {
			id, _, _ = claimString(claims, "sub")
		}
	}
	if id == "" {
		// RFC 8705 §2: a request using mutual-TLS client authentication
		// MUST include client_id; the other methods carry it.
		return nil, fail("client_id is required in the request body")
	}
	client, err := p.cfg.Clients.Client(id)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, fail("client authentication failed")
	}
	if err != nil {
		return nil, err
	}
	method := client.TokenEndpointAuthMethod
	if err := creds.match(method); err != nil {
		cause := fmt.Errorf("client %s (%s): %w", client.ID, method, err)
		if errors.Is(err, errNoCertificate) {
			return nil, fail("a client certificate is required (mutual TLS)").WithCause(cause)
		}
		return nil, fail("client authentication failed").WithCause(cause)
	}
	switch method {
	case oauth.AuthTLSClient:
		err = p.verifyPKIClient(client, r.TLS.PeerCertificates)
	case oauth.AuthSelfSignedTLSClient:
		err = p.verifySelfSignedClient(client, creds.certificate)
	case registry.AuthPrivateKeyJWT:
		err = p.verifyClientAssertion(client, form)
	case registry.AuthClientSecretBasic:
		err = verifyClientSecret(client, creds.basicSecret)
	case registry.AuthClientSecretPost:
		err = verifyClientSecret(client, form.Get(paramClientSecret))
	default:
		err = errors.New("unsupported authentication method")
	}
	if err != nil {
		return nil, fail("client authentication failed").WithCause(fmt.Errorf("client %s (%s): %w", client.ID, method, err))
	}
	return &authenticatedClient{Client: client, Cert: creds.certificate}, nil
}

var errNoCertificate = errors.New("no client certificate")

// match checks that the credentials presented are those of method and no
// other.
//
// A mutual-TLS client (RFC 8705 §2) may name itself in an HTTP Basic
// header whose password is empty instead of a client_id parameter: common
// client libraries send every client that way by default (IdentityModel's
// ClientCredentialStyle.AuthorizationHeader), and other OPs accept it. The
// header then only identifies the client; the certificate authenticates
// it. A non-empty password is a secret the client does not have, and
// fails.
func (c presented) match(method string) error {
	mtls := method == oauth.AuthTLSClient || method == oauth.AuthSelfSignedTLSClient
	want := presented{
		basic:     method == registry.AuthClientSecretBasic || (mtls && c.basicIdentifiesOnly()),
		post:      method == registry.AuthClientSecretPost,
		assertion: method == registry.AuthPrivateKeyJWT,
	}
	if c.basic != want.basic || c.post != want.post || c.assertion != want.assertion {
		return errors.New("credentials of another method than the registered one")
	}
	if mtls && c.certificate == nil {
		return errNoCertificate
	}
	return nil
}

// basicIdentifiesOnly reports whether the request carries a Basic header
// with a client_id and an empty password: an identification, not a
// credential.
func (c presented) basicIdentifiesOnly() bool {
	return c.basic && c.basicID != "" && c.basicSecret == ""
}

// verifySelfSignedClient implements self_signed_tls_client_auth
// (RFC 8705 §2.2): no chain is validated; the certificate, whose key the
// TLS handshake proved the client holds, must be one registered in the
// x5c of a key of the client's jwks (compared by x5t#S256, §2.2.2) and be
// within its validity period.
func (p *Provider) verifySelfSignedClient(c *registry.Client, leaf *x509.Certificate) error {
	now := p.cfg.Now()
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return errors.New("the certificate is outside its validity period")
	}
	got := sha256.Sum256(leaf.Raw)
	for _, k := range clientKeys(c.JWKS) {
		if len(k.X5c) == 0 {
			continue
		}
		der, err := base64.StdEncoding.DecodeString(k.X5c[0])
		if err != nil {
			continue
		}
		want := sha256.Sum256(der)
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			return nil
		}
	}
	return errors.New("the certificate is not registered in the client's jwks")
}

// verifyPKIClient implements tls_client_auth (RFC 8705 §2.1): the chain must
// verify against the OP's client CAs for client authentication, and the leaf
// must carry the one registered subject value (§2.1.2). A successful chain
// verification is remembered for the same certificates and trust store
// while the clock is inside the chain's validity (chaincache.go); the
// subject is matched on every request.
func (p *Provider) verifyPKIClient(c *registry.Client, chain []*x509.Certificate) error {
	roots, err := p.cfg.ClientCAs()
	if err != nil {
		return err
	}
	leaf := chain[0]
	now := p.cfg.Now()
	key := chainKey{chain: chainHash(chain), roots: roots}
	if !p.chains.valid(key, now) {
		inter := x509.NewCertPool()
		for _, ic := range chain[1:] {
			inter.AddCert(ic)
		}
		verified, err := leaf.Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			return err
		}
		p.chains.add(key, verified[0])
	}
	return matchSubject(c, leaf)
}

var errSubjectMismatch = errors.New("certificate does not carry the registered subject")

// matchSubject compares the registered subject value with the certificate
// (RFC 8705 §2.1.2): the DN as a DN (RFC 4514, distinguishedNameMatch),
// dNSName case-insensitively, IP addresses as bytes, URIs and e-mail
// addresses exactly (the domain of an address case-insensitively).
func matchSubject(c *registry.Client, leaf *x509.Certificate) error {
	switch {
	case c.SubjectDN != "":
		want, err := dn.Parse(c.SubjectDN)
		if err != nil {
			return err
		}
		got, err := dn.FromCertificate(leaf)
		if err != nil {
			return err
		}
		if !want.Equal(got) {
			return errSubjectMismatch
		}
		return nil
	case c.SANDNS != "":
		for _, n := range leaf.DNSNames {
			if strings.EqualFold(n, c.SANDNS) {
				return nil
			}
		}
	case c.SANIP != "":
		want := net.ParseIP(c.SANIP)
		for _, ip := range leaf.IPAddresses {
			if want != nil && ip.Equal(want) {
				return nil
			}
		}
	case c.SANURI != "":
		for _, u := range leaf.URIs {
			if u.String() == c.SANURI {
				return nil
			}
		}
	case c.SANEmail != "":
		for _, e := range leaf.EmailAddresses {
			if emailEqual(e, c.SANEmail) {
				return nil
			}
		}
	default:
		return errors.New("client has no registered subject")
	}
	return errSubjectMismatch
}

func emailEqual(a, b string) bool {
	ai, bi := strings.LastIndexByte(a, '@'), strings.LastIndexByte(b, '@')
	if ai < 0 || bi < 0 {
		return a == b
	}
	return a[:ai] == b[:bi] && strings.EqualFold(a[ai:], b[bi:])
}
