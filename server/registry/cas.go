package registry

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/shared/pki"
)

var caNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// poolCache is the client CA pool and the ca.pem files it was built from,
// and the last listing of cas/ with the directory's identity then.
type poolCache struct {
	files []caFileInfo
	pool  *x509.CertPool

	// revs lists name@revision of each CA certificate in JetStream.
	revs string

	listed bool
	dir    os.FileInfo // cas/ when names were listed; nil if it was missing
	names  []string
}

// dirSettle is how old the modification time of cas/ must be before a
// listing of it is reused. Adding or removing a CA changes the directory's
// modification time, but two changes within one tick of the file system's
// clock may leave the same time, so a listing taken while the directory's
// time is recent might miss the second change; a directory unchanged for
// dirSettle (by the wall clock, which the file system uses) is listed again
// only when its time changes.
const dirSettle = 2 * time.Second

type caFileInfo struct {
	name string
	fi   os.FileInfo
}

func (d *Dir) caConfig() ca.Config { return ca.Config{Now: d.now} }

func (d *Dir) caDir(name string) string { return filepath.Join(d.file(casDir), name) }

func checkCAName(name string) error {
	if !caNamePattern.MatchString(name) {
		return fmt.Errorf("registry: CA name %q: want 1 to 64 characters of A-Z a-z 0-9 _ -", name)
	}
	return nil
}

// CreateCA creates a new CA under cas/<name>; an existing name gives an
// error wrapping ErrExists. Creating the default CA also writes
// <dir>/ca.pem. The CA is trusted for client certificates at once
// (RFC 8705 §2.1), also by a running server (see [Dir.ClientCAPool]).
func (d *Dir) CreateCA(name string) (*ca.CA, error) {
	if err := checkCAName(name); err != nil {
		return nil, err
	}
	var c *ca.CA
	err := d.withLock(func() error {
		var err error
		c, err = d.createCALocked(name)
		return err
	})
	return c, err
}

func (d *Dir) createCALocked(name string) (*ca.CA, error) {
	if d.js != nil {
		return d.createCAJetStream(name)
	}
	target := d.caDir(name)
	if _, err := os.Lstat(target); err == nil {
		return nil, fmt.Errorf("registry: certificate authority %q: %w", name, ErrExists)
	}
	if err := os.MkdirAll(d.file(casDir), 0o700); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	c, err := ca.New(d.caConfig(), name)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	// Build the CA in a hidden directory and rename it into place, so a
	// reader never sees a half-written CA.
	tmp, err := os.MkdirTemp(d.file(casDir), "."+name+".tmp")
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op after the rename
	if err := c.Save(tmp); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if name == DefaultCAName {
		if err := pki.WritePublicFile(d.CAFile(), pki.EncodeCertificatePEM(c.Cert)); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	d.log.Info("registry.ca_created", "name", name, "x5t#S256", pki.ThumbprintS256(c.Cert))
	return c, nil
}

// CA loads the CA name; a missing one gives an error wrapping ErrNotFound.
func (d *Dir) CA(name string) (*ca.CA, error) {
	if err := checkCAName(name); err != nil {
		return nil, err
	}
	if d.js != nil {
		return d.caJetStream(name)
	}
	dir := d.caDir(name)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("registry: certificate authority %q: %w", name, ErrNotFound)
	}
	c, err := ca.Load(d.caConfig(), name, dir)
	if err != nil {
		return nil, fmt.Errorf("registry: certificate authority %q: %w", name, err)
	}
	return c, nil
}

// caNames lists the CA directories under cas/, sorted.
func (d *Dir) caNames() ([]string, error) {
	if d.js != nil {
		return d.caNamesJetStream(), nil
	}
	entries, err := d.readDir(d.file(casDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && caNamePattern.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// CAs loads every CA under cas/, sorted by name.
func (d *Dir) CAs() ([]*ca.CA, error) {
	names, err := d.caNames()
	if err != nil {
		return nil, err
	}
	out := make([]*ca.CA, 0, len(names))
	for _, name := range names {
		c, err := d.CA(name)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ClientCAPool returns the certificates of every CA under cas/, the trust
// anchors for client certificates (RFC 8705 §2.1). Each call stats cas/
// and each CA's ca.pem, lists cas/ again only when the directory changed
// (see dirSettle), and rebuilds the pool only when a CA was added, removed
// or replaced, so a CA created or removed while the server runs, also by
// another process (ciba-op ca create) or by hand, takes effect at the next
// call. Without any CA it returns an error wrapping ErrNotFound.
//
// The pool is shared and must not be modified. It is the same pool as long
// as the CA files are unchanged and a new one after any change, so its
// identity is the trust store's version: op.Provider keys its cache of
// verified client certificate chains by it.
func (d *Dir) ClientCAPool() (*x509.CertPool, error) {
	if d.js != nil {
		return d.clientCAPoolJetStream()
	}
	dirFI, err := statOrNil(d.file(casDir))
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	prev := d.pool
	d.mu.Unlock()
	names := prev.names
	if !prev.listed || !sameFile(prev.dir, dirFI) || (dirFI != nil && time.Since(dirFI.ModTime()) < dirSettle) {
		if names, err = d.caNames(); err != nil {
			return nil, err
		}
	}
	var files []caFileInfo
	for _, name := range names {
		fi, err := statOrNil(filepath.Join(d.caDir(name), ca.CertFile))
		if err != nil {
			return nil, err
		}
		if fi != nil {
			files = append(files, caFileInfo{name, fi})
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("registry: no certificate authority in %s (run ciba-op init): %w", d.file(casDir), ErrNotFound)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pool.pool != nil && slices.EqualFunc(d.pool.files, files, func(a, b caFileInfo) bool {
		return a.name == b.name && sameFile(a.fi, b.fi)
	}) {
		d.pool.listed, d.pool.dir, d.pool.names = true, dirFI, names
		return d.pool.pool, nil
	}
	pool := x509.NewCertPool()
	for _, f := range files {
		path := filepath.Join(d.caDir(f.name), ca.CertFile)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		certs, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			return nil, fmt.Errorf("registry: %s: %w", path, err)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	d.pool = poolCache{files: files, pool: pool, listed: true, dir: dirFI, names: names}
	d.log.Info("registry.client_cas_loaded", "count", len(files))
	return pool, nil
}
