package registry

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/shared/pki"
)

// The CAs of a JetStream registry are two documents each, named like the
// files of a state directory: cas/<name>/ca.pem and cas/<name>/ca-key.pem
// (encrypted with the registry key).

func caCertDoc(name string) string { return casDir + "/" + name + "/" + ca.CertFile }
func caKeyDoc(name string) string  { return casDir + "/" + name + "/" + ca.KeyFile }

// createCAJetStream is createCALocked in JetStream: the key is written
// before the certificate, so a reader who sees the certificate also finds
// the key.
func (d *Dir) createCAJetStream(name string) (*ca.CA, error) {
	have, err := d.js.read(caCertDoc(name))
	if err != nil {
		return nil, err
	}
	if have != nil {
		return nil, fmt.Errorf("registry: certificate authority %q: %w", name, ErrExists)
	}
	if _, err := d.js.read(caKeyDoc(name)); err != nil && !isNoKey(err) {
		return nil, err
	}
	c, err := ca.New(d.caConfig(), name)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(c.Key)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if _, err := d.js.write(caKeyDoc(name), keyPEM); err != nil {
		return nil, err
	}
	if _, err := d.js.write(caCertDoc(name), pki.EncodeCertificatePEM(c.Cert)); err != nil {
		return nil, err
	}
	if name == DefaultCAName {
		if err := pki.WritePublicFile(d.CAFile(), pki.EncodeCertificatePEM(c.Cert)); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	d.log.Info("registry.ca_created", "name", name, "x5t#S256", pki.ThumbprintS256(c.Cert))
	return c, nil
}

// isNoKey reports the read of a key that does not decrypt or needs the
// registry key: a CA being created replaces it anyway.
func isNoKey(err error) bool {
	return errors.Is(err, ErrNoKey) || errors.Is(err, errUndecryptable)
}

// caJetStream is CA in JetStream, from the watched copy.
func (d *Dir) caJetStream(name string) (*ca.CA, error) {
	certPEM, _, err := d.js.current(caCertDoc(name))
	if err != nil {
		return nil, err
	}
	if certPEM == nil {
		return nil, fmt.Errorf("registry: certificate authority %q: %w", name, ErrNotFound)
	}
	keyPEM, _, err := d.js.current(caKeyDoc(name))
	if err != nil {
		return nil, fmt.Errorf("registry: certificate authority %q: %w", name, err)
	}
	if keyPEM == nil {
		return nil, fmt.Errorf("registry: certificate authority %q: its key is missing from %s", name, d.where(caKeyDoc(name)))
	}
	c, err := ca.Parse(d.caConfig(), name, certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("registry: certificate authority %q: %w", name, err)
	}
	return c, nil
}

// caNamesJetStream lists the CAs with a certificate, sorted.
func (d *Dir) caNamesJetStream() []string {
	var names []string
	for _, n := range d.js.names(casDir + "/") {
		name, ok := strings.CutSuffix(strings.TrimPrefix(n, casDir+"/"), "/"+ca.CertFile)
		if ok && caNamePattern.MatchString(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// clientCAPoolJetStream is ClientCAPool in JetStream: the pool is rebuilt
// when a CA certificate was added, removed or replaced (its revision
// changed), and is the same pool otherwise.
func (d *Dir) clientCAPoolJetStream() (*x509.CertPool, error) {
	names := d.caNamesJetStream()
	type doc struct {
		name string
		pem  []byte
	}
	var docs []doc
	var revs strings.Builder
	for _, name := range names {
		data, rev, err := d.js.current(caCertDoc(name))
		if err != nil {
			return nil, err
		}
		if data == nil {
			continue
		}
		docs = append(docs, doc{name, data})
		fmt.Fprintf(&revs, "%s@%d,", name, rev)
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("registry: no certificate authority in %s (run ciba-op init): %w", d.where(casDir), ErrNotFound)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pool.pool != nil && d.pool.revs == revs.String() {
		return d.pool.pool, nil
	}
	pool := x509.NewCertPool()
	for _, c := range docs {
		certs, err := pki.ParseCertificatesPEM(c.pem)
		if err != nil {
			return nil, fmt.Errorf("registry: %s: %w", d.where(caCertDoc(c.name)), err)
		}
		for _, cert := range certs {
			pool.AddCert(cert)
		}
	}
	d.pool = poolCache{pool: pool, revs: revs.String()}
	d.log.Info("registry.client_cas_loaded", "count", len(docs))
	return pool, nil
}

// removeCAJetStream is RemoveCA in JetStream: the certificate goes first,
// so the CA stops being trusted before its key disappears.
func (d *Dir) removeCAJetStream(name string) error {
	have, err := d.js.read(caCertDoc(name))
	if err != nil {
		return err
	}
	if have == nil {
		return fmt.Errorf("registry: certificate authority %q: %w", name, ErrNotFound)
	}
	if err := d.js.remove(caCertDoc(name)); err != nil {
		return err
	}
	if _, err := d.js.read(caKeyDoc(name)); err != nil && !isNoKey(err) {
		return err
	}
	if err := d.js.remove(caKeyDoc(name)); err != nil {
		return err
	}
	d.log.Info("registry.ca_removed", "ca", name)
	return nil
}
