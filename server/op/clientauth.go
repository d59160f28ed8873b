package op

import (
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"cibalab/server/dn"
	"cibalab/server/state"
	"cibalab/shared/oauth"
)

// authenticatedClient is the result of client authentication: the client
// and the certificate it proved it holds on this connection.
type authenticatedClient struct {
	*state.Client
	Cert *x509.Certificate
}

// authenticateClient authenticates the caller with its registered method,
// the same at the backchannel and token endpoints (CIBA Core 1.0 §7.2 step 1,
// RFC 8705 §2). Every failure is invalid_client with 401.
func (p *Provider) authenticateClient(r *http.Request, form url.Values, newErr func(code, format string, args ...any) *oauth.Error) (*authenticatedClient, error) {
	fail := func(format string, args ...any) error {
		e := newErr(oauth.ErrInvalidClient, format, args...)
		e.Status = http.StatusUnauthorized
		return e
	}
	id := form.Get(oauth.ParamClientID)
	if id == "" {
		// RFC 8705 §2: a request using mutual-TLS client authentication
		// MUST include client_id.
		return nil, fail("client_id is required in the request body")
	}
	client, err := p.cfg.Clients.Client(id)
	if errors.Is(err, state.ErrNotFound) {
		return nil, fail("client authentication failed")
	}
	if err != nil {
		return nil, err
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, fail("a client certificate is required (mutual TLS)")
	}
	switch client.TokenEndpointAuthMethod {
	case oauth.AuthTLSClient:
		if err := p.verifyPKIClient(client, r.TLS.PeerCertificates); err != nil {
			p.log.Warn("tls_client_auth failed", "client_id", client.ID, "reason", err.Error())
			return nil, fail("client authentication failed")
		}
	default:
		return nil, fail("client authentication failed")
	}
	return &authenticatedClient{Client: client, Cert: r.TLS.PeerCertificates[0]}, nil
}

// verifyPKIClient implements tls_client_auth (RFC 8705 §2.1): the chain must
// verify against the OP's client CAs for client authentication, and the leaf
// must carry the one registered subject value (§2.1.2).
func (p *Provider) verifyPKIClient(c *state.Client, chain []*x509.Certificate) error {
	roots, err := p.cfg.ClientCAs()
	if err != nil {
		return err
	}
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	leaf := chain[0]
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   p.cfg.Now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return err
	}
	return matchSubject(c, leaf)
}

var errSubjectMismatch = errors.New("certificate does not carry the registered subject")

// matchSubject compares the registered subject value with the certificate
// (RFC 8705 §2.1.2): the DN as a DN (RFC 4514, distinguishedNameMatch),
// dNSName case-insensitively, IP addresses as bytes, URIs and e-mail
// addresses exactly (the domain of an address case-insensitively).
func matchSubject(c *state.Client, leaf *x509.Certificate) error {
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
