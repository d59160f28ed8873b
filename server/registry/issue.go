package registry

import (
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/shared/pki"
)

// IssueOptions are the options of [Dir.IssueClientCert].
type IssueOptions struct {
	// CA names the issuing CA; "" means the default CA.
	CA string
	// Validity of the certificate; 0 means one year.
	Validity time.Duration
	// Password protects the PKCS#12 file. An empty password is refused
	// unless InsecureEmptyPassword is set.
	Password              string
	InsecureEmptyPassword bool
}

// IssuedCert is a client certificate, its key and both as a PKCS#12 file
// that also holds the issuing CA's certificate.
type IssuedCert struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	P12  []byte
}

// IssueClientCert issues a certificate with which the registered client
// clientID authenticates with tls_client_auth (RFC 8705 §2.1): its subject
// is the client's tls_client_auth_subject_dn, or, when the client is
// registered by a subject alternative name, CN=<client id> and that name.
// It writes nothing.
func (d *Dir) IssueClientCert(clientID string, opts IssueOptions) (*IssuedCert, error) {
	if opts.Password == "" && !opts.InsecureEmptyPassword {
		return nil, errors.New("registry: refusing to issue a PKCS#12 file with an empty password")
	}
	client, err := d.Client(clientID)
	if err != nil {
		return nil, err
	}
	caName := opts.CA
	if caName == "" {
		caName = DefaultCAName
	}
	root, err := d.CA(caName)
	if err != nil {
		return nil, err
	}
	if err := withinCA(root.Cert, d.now(), opts.Validity); err != nil {
		return nil, fmt.Errorf("registry: client %s: %w", clientID, err)
	}
	subject, certOpts, err := clientCertRequest(client)
	if err != nil {
		return nil, err
	}
	certOpts.Validity = opts.Validity
	cert, key, err := root.IssueClient(subject, certOpts)
	if err != nil {
		return nil, fmt.Errorf("registry: client %s: %w", clientID, err)
	}
	p12, err := pki.EncodePKCS12(key, cert, []*x509.Certificate{root.Cert}, opts.Password)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	d.log.Info("registry.client_certificate_issued", "client_id", clientID, "ca", caName,
		"x5t#S256", pki.ThumbprintS256(cert), "not_after", cert.NotAfter)
	return &IssuedCert{Cert: cert, Key: key, P12: p12}, nil
}

// clientCertRequest derives the certificate subject and SANs from the
// client's registered RFC 8705 §2.1.2 identifier.
func clientCertRequest(c *Client) (pkix.Name, ca.ClientCertOptions, error) {
	var opts ca.ClientCertOptions
	cn := pkix.Name{CommonName: c.ID}
	switch {
	case c.SubjectDN != "":
		name, err := parseSubjectDN(c.SubjectDN)
		if err != nil {
			return pkix.Name{}, opts, fmt.Errorf("registry: client %s: tls_client_auth_subject_dn: %w", c.ID, err)
		}
		return name, opts, nil
	case c.SANDNS != "":
		opts.DNSNames = []string{c.SANDNS}
	case c.SANURI != "":
		u, err := url.Parse(c.SANURI)
		if err != nil {
			return pkix.Name{}, opts, fmt.Errorf("registry: client %s: tls_client_auth_san_uri: %w", c.ID, err)
		}
		opts.URIs = []*url.URL{u}
	case c.SANIP != "":
		ip := net.ParseIP(c.SANIP)
		if ip == nil {
			return pkix.Name{}, opts, fmt.Errorf("registry: client %s: tls_client_auth_san_ip %q is not an IP address", c.ID, c.SANIP)
		}
		opts.IPAddresses = []net.IP{ip}
	case c.SANEmail != "":
		opts.EmailAddresses = []string{c.SANEmail}
	default:
		return pkix.Name{}, opts, fmt.Errorf("registry: client %s has no tls_client_auth certificate identifier", c.ID)
	}
	return cn, opts, nil
}

// withinCA refuses a certificate valid from now for validity (0: one
// year) that would outlive the CA certificate issuing it: a chain is only
// valid while every certificate in it is (RFC 5280 §6.1.3).
func withinCA(caCert *x509.Certificate, now time.Time, validity time.Duration) error {
	if validity <= 0 {
		validity = 365 * 24 * time.Hour
	}
	if end := now.Add(validity); end.After(caCert.NotAfter) {
		left := caCert.NotAfter.Sub(now).Truncate(time.Hour)
		if left <= 0 {
			return fmt.Errorf("the certificate authority expired on %s; issue from another one", caCert.NotAfter.UTC().Format(time.RFC3339))
		}
		return fmt.Errorf("the certificate would outlive its certificate authority, valid until %s; give a validity of at most %s", caCert.NotAfter.UTC().Format(time.RFC3339), left)
	}
	return nil
}
