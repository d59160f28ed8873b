package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/cibalab/cibalab/shared/pki"
)

// File names of a CA inside its directory.
const (
	CertFile = "ca.pem"
	KeyFile  = "ca-key.pem"
)

const (
	// rootValidity is how long a new root certificate is valid.
	rootValidity = 10 * 365 * 24 * time.Hour
	// defaultLeafValidity is the validity of a leaf certificate when the
	// caller asks for none.
	defaultLeafValidity = 365 * 24 * time.Hour
	// clockSkew is how far in the past a certificate's NotBefore is set, so
	// that a peer whose clock is slightly behind still accepts it.
	clockSkew = 5 * time.Minute
)

// Config configures a CA.
type Config struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// CA is a certificate authority: a self-signed root certificate and its
// ECDSA P-256 private key.
type CA struct {
	// Name identifies the CA in its state directory ("default", ...).
	Name string
	// Cert is the self-signed root certificate.
	Cert *x509.Certificate
	// Key is the root's private key.
	Key crypto.Signer

	cfg Config
}

// New creates a CA with a fresh ECDSA P-256 key and a self-signed root
// certificate valid for ten years, whose subject is
// "CN=cibalab <name> CA,O=cibalab". The root may sign only end-entity
// certificates (MaxPathLen 0).
func New(cfg Config, name string) (*CA, error) {
	if name == "" {
		return nil, errors.New("ca: empty name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	now := cfg.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "cibalab " + name + " CA", Organization: []string{"cibalab"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(rootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("ca: create root certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca: parse root certificate: %w", err)
	}
	return &CA{Name: name, Cert: cert, Key: key, cfg: cfg}, nil
}

// Load reads the CA kept in dir (ca.pem and ca-key.pem) and checks that the
// key belongs to the certificate and that the certificate is a CA.
func Load(cfg Config, name, dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	certs, err := pki.ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", filepath.Join(dir, CertFile), err)
	}
	cert := certs[0]
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("ca: %s is not a CA certificate", filepath.Join(dir, CertFile))
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	key, err := pki.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", filepath.Join(dir, KeyFile), err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("ca: %s does not match %s", filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile))
	}
	return &CA{Name: name, Cert: cert, Key: key, cfg: cfg}, nil
}

// Parse builds the CA from its certificate and private key in PEM, as
// kept in a registry that is not a directory, and checks that the key
// belongs to the certificate and that the certificate is a CA.
func Parse(cfg Config, name string, certPEM, keyPEM []byte) (*CA, error) {
	certs, err := pki.ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: %s certificate: %w", name, err)
	}
	cert := certs[0]
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("ca: %s: not a CA certificate", name)
	}
	key, err := pki.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: %s key: %w", name, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("ca: %s: the key does not match the certificate", name)
	}
	return &CA{Name: name, Cert: cert, Key: key, cfg: cfg}, nil
}

// Save writes the CA to dir: the private key to ca-key.pem (0600) first,
// then the certificate to ca.pem (0644), so that a reader who sees ca.pem
// also finds the key. dir is created with 0700 permissions if missing.
func (c *CA) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(c.Key)
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	if err := pki.WriteSecretFile(filepath.Join(dir, KeyFile), keyPEM); err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	if err := pki.WritePublicFile(filepath.Join(dir, CertFile), pki.EncodeCertificatePEM(c.Cert)); err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	return nil
}

// IssueServer issues a TLS server certificate (EKU serverAuth) for hosts
// with a fresh ECDSA P-256 key. Each host is an IP address or a DNS name;
// the first one is also the subject common name. validity 0 means one
// year. The returned chain is the leaf followed by the root, and Leaf is
// set.
func (c *CA) IssueServer(hosts []string, validity time.Duration) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, errors.New("ca: server certificate needs at least one host")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if h == "" {
			return tls.Certificate{}, errors.New("ca: empty host name")
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	leaf, key, err := c.issue(tmpl, validity)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{
		Certificate: [][]byte{leaf.Raw, c.Cert.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}

// ClientCertOptions are the optional parts of a client certificate.
type ClientCertOptions struct {
	// Validity is how long the certificate is valid; 0 means one year.
	Validity time.Duration
	// The subject alternative names that tls_client_auth_san_dns,
	// tls_client_auth_san_ip, tls_client_auth_san_uri and
	// tls_client_auth_san_email match (RFC 8705 §2.1.2).
	DNSNames       []string
	IPAddresses    []net.IP
	URIs           []*url.URL
	EmailAddresses []string
}

// IssueClient issues a client certificate (EKU clientAuth) for subject
// with a fresh ECDSA P-256 key, for PKI mutual-TLS client authentication
// (RFC 8705 §2.1).
func (c *CA) IssueClient(subject pkix.Name, opts ClientCertOptions) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	if len(subject.ToRDNSequence()) == 0 && len(opts.DNSNames)+len(opts.IPAddresses)+len(opts.URIs)+len(opts.EmailAddresses) == 0 {
		return nil, nil, errors.New("ca: client certificate needs a subject or a subject alternative name")
	}
	tmpl := &x509.Certificate{
		Subject:        subject,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:       opts.DNSNames,
		IPAddresses:    opts.IPAddresses,
		URIs:           opts.URIs,
		EmailAddresses: opts.EmailAddresses,
	}
	return c.issue(tmpl, opts.Validity)
}

// issue completes tmpl (serial, validity, key identifiers), generates a
// P-256 key and signs the certificate with the root key.
func (c *CA) issue(tmpl *x509.Certificate, validity time.Duration) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	if validity < 0 {
		return nil, nil, errors.New("ca: negative validity")
	}
	if validity == 0 {
		validity = defaultLeafValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, nil, err
	}
	now := c.cfg.now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.Add(validity)
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = false
	tmpl.SubjectKeyId = ski
	tmpl.AuthorityKeyId = c.Cert.SubjectKeyId
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, key.Public(), c.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: parse certificate: %w", err)
	}
	return cert, key, nil
}

// randomSerial returns a positive 128-bit random serial number
// (RFC 5280 §4.1.2.2 allows up to 20 octets).
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("ca: serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID derives a key identifier from the SHA-256 of the
// subjectPublicKey bits, truncated to 160 bits (RFC 7093 §2 method 1).
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("ca: marshal public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("ca: parse public key: %w", err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}
