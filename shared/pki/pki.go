package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// ThumbprintS256 is the x5t#S256 confirmation value of cert: the unpadded
// base64url SHA-256 of its DER encoding (RFC 8705 §3.1).
func ThumbprintS256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// EncodePKCS12 encodes key, its certificate and the CA chain as a PKCS#12
// file with modern algorithms (AES-256-CBC, PBKDF2, SHA-256 MAC).
func EncodePKCS12(key crypto.PrivateKey, cert *x509.Certificate, caCerts []*x509.Certificate, password string) ([]byte, error) {
	data, err := pkcs12.Modern.Encode(key, cert, caCerts, password)
	if err != nil {
		return nil, fmt.Errorf("pki: encode PKCS#12: %w", err)
	}
	return data, nil
}

// LoadPKCS12 decodes a PKCS#12 file into a TLS certificate whose chain holds
// the leaf followed by any CA certificates in the file. A wrong password is
// reported as such.
func LoadPKCS12(data []byte, password string) (tls.Certificate, error) {
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return tls.Certificate{}, errors.New("pki: PKCS#12: wrong password")
		}
		return tls.Certificate{}, fmt.Errorf("pki: PKCS#12: %w", err)
	}
	switch key.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, crypto.Signer:
	default:
		return tls.Certificate{}, errors.New("pki: PKCS#12: private key cannot sign")
	}
	chain := [][]byte{leaf.Raw}
	for _, c := range cas {
		chain = append(chain, c.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}

// LoadPKCS12File reads and decodes a PKCS#12 file (see [LoadPKCS12]).
func LoadPKCS12File(path, password string) (tls.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %w", err)
	}
	cert, err := LoadPKCS12(data, password)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w (%s)", err, path)
	}
	return cert, nil
}

// LoadPEMKeyPair loads a certificate chain and its private key from PEM files.
func LoadPEMKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %w", err)
	}
	return cert, nil
}

// ParseCertificatesPEM parses every CERTIFICATE block of data; it fails
// when there is none.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: parse certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("pki: no PEM certificate found")
	}
	return certs, nil
}

// CertPoolFromPEMFile builds a trust pool from the certificates of a PEM file.
func CertPoolFromPEMFile(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// EncodeCertificatePEM returns the PEM encoding of cert.
func EncodeCertificatePEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// EncodePrivateKeyPEM returns the PKCS#8 PEM encoding of key.
func EncodePrivateKeyPEM(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM parses a PKCS#8, SEC 1 (EC) or PKCS#1 (RSA) PEM key.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("pki: no PEM private key found")
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("pki: parse private key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("pki: private key cannot sign")
	}
	return signer, nil
}

// WriteSecretFile writes data to path with 0600 permissions, atomically:
// it writes a temporary file in the same directory and renames it, so a
// reader never sees half a key, and an existing file's looser permissions
// are not inherited.
func WriteSecretFile(path string, data []byte) error {
	return writeFileAtomic(path, data, 0o600)
}

// WritePublicFile writes data to path with 0644 permissions, atomically.
func WritePublicFile(path string, data []byte) error {
	return writeFileAtomic(path, data, 0o644)
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after a successful rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}
