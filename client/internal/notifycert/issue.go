package notifycert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Lifetime is how long an issued certificate is valid from now; it
// outlives any one run of the client.
const Lifetime = 24 * time.Hour

// backdate is how far before now an issued certificate becomes valid, for
// a provider whose clock is a little behind.
const backdate = 5 * time.Minute

// Issue issues a fresh ECDSA P-256 server certificate (extended key usage
// serverAuth) for host, a DNS name or an IP address named in its subject
// alternative name (RFC 5280 §4.2.1.6; its subject is empty, as clients
// match the host against that extension only, RFC 6125 §6.4.4), signed by
// ca with caKey and valid from a little before now for Lifetime. The chain
// it returns holds the certificate and ca.
func Issue(ca *x509.Certificate, caKey crypto.Signer, host string, now time.Time) (tls.Certificate, error) {
	if ca == nil || caKey == nil {
		return tls.Certificate{}, fmt.Errorf("notifycert: a CA certificate and its key are needed")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("notifycert: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("notifycert: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(Lifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("notifycert: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("notifycert: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key, Leaf: leaf}, nil
}
