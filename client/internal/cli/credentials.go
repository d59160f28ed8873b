package cli

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cibalab/cibalab/client/ciba"
	"github.com/cibalab/cibalab/shared/pki"
)

// credentialError is a client certificate that exists but cannot be used
// (wrong password, corrupt file); it exits with ExitClient.
type credentialError struct{ err error }

func (e *credentialError) Error() string {
	return "cannot use the client certificate: " + e.err.Error()
}
func (e *credentialError) Unwrap() error { return e.err }

// loadCertificate returns the client certificate named by the options, or
// the default <state-dir>/clients/<client-id>.p12 when none is named and it
// exists. found is false when there is no certificate at all.
func loadCertificate(o *options, getenv func(string) string) (cert tls.Certificate, source string, found bool, err error) {
	switch {
	case o.certPEM != "":
		for _, f := range []struct{ flag, path string }{{"--cert-pem", o.certPEM}, {"--key-pem", o.keyPEM}} {
			if err := readable(f.flag, f.path); err != nil {
				return cert, "", false, err
			}
		}
		cert, err = pki.LoadPEMKeyPair(o.certPEM, o.keyPEM)
		if err != nil {
			return cert, "", false, &credentialError{err}
		}
		return cert, o.certPEM, true, nil
	case o.cert != "":
		if err := readable("--cert", o.cert); err != nil {
			return cert, "", false, err
		}
		if isPEMFile(o.cert) {
			return cert, "", false, usagef("--cert %s is a PEM file, but --cert takes PKCS#12 (.p12); for PEM give --cert-pem CERT.pem --key-pem KEY.pem", o.cert)
		}
		pass, err := password(o.passFile, "", getenv)
		if err != nil {
			return cert, "", false, err
		}
		cert, err = pki.LoadPKCS12File(o.cert, pass)
		if err != nil {
			return cert, "", false, &credentialError{err}
		}
		return cert, o.cert, true, nil
	}
	def, ok := defaultP12(o)
	if !ok {
		return cert, "", false, nil
	}
	pass, err := password(o.passFile, def+".pass", getenv)
	if err != nil {
		return cert, "", false, err
	}
	cert, err = pki.LoadPKCS12File(def, pass)
	if err != nil {
		return cert, "", false, &credentialError{err}
	}
	return cert, def, true, nil
}

// defaultP12 is <state-dir>/clients/<client-id>.p12, where the OP keeps
// the credentials it issues, when it exists.
func defaultP12(o *options) (string, bool) {
	if strings.ContainsAny(o.clientID, `/\`) || o.clientID == "." || o.clientID == ".." {
		return "", false
	}
	path := filepath.Join(o.stateDir, "clients", o.clientID+".p12")
	if _, err := os.Stat(path); err != nil {
		return "", false
	}
	return path, true
}

// password returns the PKCS#12 password: the named file, else
// $CIBA_CLIENT_CERT_PASSWORD, else the fallback file when it exists, else
// empty. One trailing newline of a file is dropped.
func password(file, fallback string, getenv func(string) string) (string, error) {
	if file != "" {
		if err := readable("--cert-password-file", file); err != nil {
			return "", err
		}
		return readPassword(file)
	}
	if p := getenv(EnvCertPassword); p != "" {
		return p, nil
	}
	if fallback != "" {
		if _, err := os.Stat(fallback); err == nil {
			return readPassword(fallback)
		}
	}
	return "", nil
}

func readPassword(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", usagef("cannot read the password file: %v", err)
	}
	s := string(data)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, nil
}

// readable reports a missing or unreadable file named by a flag as a usage
// error.
func readable(flagName, path string) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return usagef("%s %s: no such file", flagName, path)
		}
		return usagef("%s: %v", flagName, err)
	}
	f.Close()
	return nil
}

// loadRoots returns the CA pool trusted for the OP's TLS certificate: the
// --ca-file, else <state-dir>/ca.pem when it exists, else nil (the system
// roots), reporting which in source.
func loadRoots(o *options) (pool *x509.CertPool, source string, err error) {
	if !o.caFileSet {
		if _, err := os.Stat(o.caFile); errors.Is(err, fs.ErrNotExist) {
			return nil, "", nil
		}
	}
	if err := readable("--ca-file", o.caFile); err != nil {
		return nil, "", err
	}
	pool, err = pki.CertPoolFromPEMFile(o.caFile)
	if err != nil {
		return nil, "", usagef("--ca-file: %v", err)
	}
	return pool, o.caFile, nil
}

// describeCert names a certificate for a progress line.
func describeCert(cert tls.Certificate) string {
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	if leaf == nil {
		return "?"
	}
	return fmt.Sprintf("%s, x5t#S256 %s", leaf.Subject.String(), pki.ThumbprintS256(leaf))
}

// loadSigner reads a private key for signing JWTs: PEM (PKCS#8, SEC 1 or
// PKCS#1), or else PKCS#12 opened with the certificate password.
func loadSigner(flagName, path string, o *options, getenv func(string) string) (crypto.Signer, error) {
	if err := readable(flagName, path); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("%s: %v", flagName, err)
	}
	var key crypto.Signer
	if block, _ := pem.Decode(data); block != nil {
		key, err = pki.ParsePrivateKeyPEM(data)
	} else {
		pass, perr := password(o.passFile, "", getenv)
		if perr != nil {
			return nil, perr
		}
		var cert tls.Certificate
		if cert, err = pki.LoadPKCS12(data, pass); err == nil {
			key, _ = cert.PrivateKey.(crypto.Signer)
		}
	}
	if err == nil && key == nil {
		err = errors.New("the key cannot sign")
	}
	if err == nil {
		_, err = ciba.SigningAlgorithm(key)
	}
	if err != nil {
		return nil, &credentialError{fmt.Errorf("%s %s: %w", flagName, path, err)}
	}
	return key, nil
}

// readSecret returns the trimmed content of the file named by a flag, or
// "" when no file is named.
func readSecret(flagName, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	if err := readable(flagName, path); err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", usagef("%s: %v", flagName, err)
	}
	return strings.TrimSpace(string(data)), nil
}

// isPEMFile reports whether the file at path starts like PEM ("-----BEGIN"),
// after any leading white space.
func isPEMFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	return bytes.HasPrefix(bytes.TrimSpace(head[:n]), []byte("-----BEGIN"))
}
