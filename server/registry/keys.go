package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/shared/pki"
)

const (
	// serverCertValidity is how long an issued server certificate is valid.
	serverCertValidity = 365 * 24 * time.Hour
	// renewBefore is how long before expiry Init replaces a certificate.
	renewBefore = 30 * 24 * time.Hour
)

// ServerCertificate loads the OP's TLS server certificate chain (leaf and
// default CA) and key from server/. A missing certificate gives an error
// wrapping ErrNotFound: [Dir.Init] creates it.
func (d *Dir) ServerCertificate() (tls.Certificate, error) {
	certPath, keyPath := d.file(serverCertFile), d.file(serverKeyFile)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			return tls.Certificate{}, fmt.Errorf("registry: %s missing (run ciba-op init): %w", p, ErrNotFound)
		}
	}
	cert, err := pki.LoadPEMKeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("registry: server certificate: %w", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("registry: server certificate: %w", err)
		}
	}
	return cert, nil
}

// ensureServerCertLocked issues a server certificate for hosts from the
// default CA unless the current one is signed by it, names exactly these
// hosts and stays valid for more than 30 days. It returns a report line
// when it issued one.
func (d *Dir) ensureServerCertLocked(root *ca.CA, hosts []string) (string, error) {
	current, err := d.ServerCertificate()
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return "", err
	default:
		if d.serverCertGood(current.Leaf, root, hosts) {
			return "", nil
		}
	}
	tc, err := root.IssueServer(hosts, serverCertValidity)
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(tc.PrivateKey)
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	var chainPEM []byte
	chainPEM = append(chainPEM, pki.EncodeCertificatePEM(tc.Leaf)...)
	chainPEM = append(chainPEM, pki.EncodeCertificatePEM(root.Cert)...)
	if err := os.MkdirAll(d.file(serverDir), 0o700); err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	if err := pki.WriteSecretFile(d.file(serverKeyFile), keyPEM); err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	if err := pki.WritePublicFile(d.file(serverCertFile), chainPEM); err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	d.log.Info("registry.server_certificate_issued", "hosts", hosts, "not_after", tc.Leaf.NotAfter)
	return fmt.Sprintf("server certificate for %s (valid until %s): %s",
		strings.Join(hosts, ", "), tc.Leaf.NotAfter.UTC().Format(time.DateOnly), d.file(serverCertFile)), nil
}

func (d *Dir) serverCertGood(leaf *x509.Certificate, root *ca.CA, hosts []string) bool {
	if leaf.CheckSignatureFrom(root.Cert) != nil || d.now().Add(renewBefore).After(leaf.NotAfter) {
		return false
	}
	var want, have []string
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			want = append(want, "ip:"+ip.String())
		} else {
			want = append(want, "dns:"+strings.ToLower(h))
		}
	}
	for _, n := range leaf.DNSNames {
		have = append(have, "dns:"+strings.ToLower(n))
	}
	for _, ip := range leaf.IPAddresses {
		have = append(have, "ip:"+ip.String())
	}
	slices.Sort(want)
	slices.Sort(have)
	return slices.Equal(slices.Compact(want), slices.Compact(have))
}

// SigningKeys returns the OP's token signing keys, an RSA 2048 key for
// RS256 and an ECDSA P-256 key for ES256 (RFC 7518 §3.3, §3.4), creating
// whichever is missing (0600).
func (d *Dir) SigningKeys() (rs256 *rsa.PrivateKey, es256 *ecdsa.PrivateKey, err error) {
	rs256, es256, err = d.loadSigningKeys()
	if err == nil {
		return rs256, es256, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, nil, err
	}
	err = d.withLock(func() error {
		_, err := d.ensureSigningKeysLocked()
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return d.loadSigningKeys()
}

// loadSigningKeys loads both keys; a missing file gives ErrNotFound.
func (d *Dir) loadSigningKeys() (*rsa.PrivateKey, *ecdsa.PrivateKey, error) {
	rk, err := d.loadKey(rs256File)
	if err != nil {
		return nil, nil, err
	}
	ek, err := d.loadKey(es256File)
	if err != nil {
		return nil, nil, err
	}
	rs, ok := rk.(*rsa.PrivateKey)
	if !ok || rs.N.BitLen() < 2048 {
		return nil, nil, fmt.Errorf("registry: %s is not an RSA key of at least 2048 bits", d.where(rs256File))
	}
	es, ok := ek.(*ecdsa.PrivateKey)
	if !ok || es.Curve != elliptic.P256() {
		return nil, nil, fmt.Errorf("registry: %s is not an ECDSA P-256 key", d.where(es256File))
	}
	return rs, es, nil
}

func (d *Dir) loadKey(rel string) (any, error) {
	if d.js != nil {
		data, _, err := d.js.current(rel)
		if err != nil {
			return nil, err
		}
		if data == nil {
			return nil, fmt.Errorf("registry: %s: %w", d.where(rel), ErrNotFound)
		}
		return parseKey(d.where(rel), data)
	}
	path := d.file(rel)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("registry: %s: %w", path, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return parseKey(path, data)
}

func parseKey(where string, data []byte) (any, error) {
	key, err := pki.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", where, err)
	}
	return key, nil
}

// ensureSigningKeysLocked creates the signing keys that are missing and
// returns a report line for each.
func (d *Dir) ensureSigningKeysLocked() ([]string, error) {
	var created []string
	for _, k := range []struct {
		rel, desc string
		gen       func() (any, error)
	}{
		{rs256File, "token signing key RS256 (RSA 2048)", func() (any, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
		{es256File, "token signing key ES256 (ECDSA P-256)", func() (any, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
	} {
		if d.js != nil {
			have, err := d.js.read(k.rel)
			if err != nil {
				return created, err
			}
			if have != nil {
				continue
			}
			key, err := k.gen()
			if err != nil {
				return created, fmt.Errorf("registry: generate key: %w", err)
			}
			data, err := pki.EncodePrivateKeyPEM(key)
			if err != nil {
				return created, fmt.Errorf("registry: %w", err)
			}
			if _, err := d.js.write(k.rel, data); err != nil {
				return created, err
			}
			d.log.Info("registry.signing_key_created", "where", d.where(k.rel))
			created = append(created, k.desc+": "+d.where(k.rel))
			continue
		}
		path := d.file(k.rel)
		if _, err := os.Stat(path); err == nil {
			continue
		} else if !errors.Is(err, os.ErrNotExist) {
			return created, fmt.Errorf("registry: %w", err)
		}
		key, err := k.gen()
		if err != nil {
			return created, fmt.Errorf("registry: generate key: %w", err)
		}
		data, err := pki.EncodePrivateKeyPEM(key)
		if err != nil {
			return created, fmt.Errorf("registry: %w", err)
		}
		if err := os.MkdirAll(d.file(keysDir), 0o700); err != nil {
			return created, fmt.Errorf("registry: %w", err)
		}
		if err := pki.WriteSecretFile(path, data); err != nil {
			return created, fmt.Errorf("registry: %w", err)
		}
		d.log.Info("registry.signing_key_created", "path", path)
		created = append(created, k.desc+": "+path)
	}
	return created, nil
}
