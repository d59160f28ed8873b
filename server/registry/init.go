package registry

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// InitOptions are the options of [Dir.Init]; zero values take the
// documented defaults.
type InitOptions struct {
	// ServerHosts are the names and addresses of the server certificate;
	// default localhost, 127.0.0.1 and ::1.
	ServerHosts []string
	// ClientID is the default client; default "cibaConformance".
	ClientID string
	// User and Password are the default user; default "user", "password".
	User, Password string
}

// InitReport says what Init created and where the default client's
// credentials are.
type InitReport struct {
	// Created holds one line per thing created, such as
	// "certificate authority default (ECDSA P-256): .cibalab/cas/default/ca.pem";
	// it is empty when everything existed.
	Created []string
	// The default client's credentials and the CA certificate clients
	// trust the server with.
	ClientP12, ClientP12PasswordFile, ClientCertPEM, ClientKeyPEM, CAFile string
}

// Defaults of InitOptions.
const (
	DefaultClientID     = "cibaConformance"
	DefaultUser         = "user"
	DefaultUserPassword = "password"
)

// p12PasswordLength is the length of the generated PKCS#12 password.
const p12PasswordLength = 24

// DefaultServerHosts returns the default names of the server certificate.
func DefaultServerHosts() []string { return []string{"localhost", "127.0.0.1", "::1"} }

// Init creates whatever is missing from the state directory and reuses
// the rest, so a second call creates nothing: the default CA (and
// <dir>/ca.pem); a server certificate for ServerHosts, re-issued when
// missing, expiring within 30 days, naming other hosts or not from the
// default CA; the token signing keys; the default client
// (tls_client_auth with subject DN "CN=<ClientID>", poll mode, CIBA grant;
// RFC 8705 §2.1.2, CIBA Core 1.0 §4); the default user; and the default
// client's credentials under clients/: a PKCS#12 file protected by a
// random password kept beside it, the certificate and its key.
func (d *Dir) Init(opts InitOptions) (*InitReport, error) {
	if len(opts.ServerHosts) == 0 {
		opts.ServerHosts = DefaultServerHosts()
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.User == "" {
		opts.User = DefaultUser
	}
	if opts.Password == "" {
		opts.Password = DefaultUserPassword
	}
	var report *InitReport
	err := d.withLock(func() error {
		var err error
		report, err = d.initLocked(opts)
		return err
	})
	return report, err
}

func (d *Dir) initLocked(opts InitOptions) (*InitReport, error) {
	r := &InitReport{CAFile: d.CAFile()}
	add := func(line string) {
		if line != "" {
			r.Created = append(r.Created, line)
		}
	}

	// The default CA and its copy at <dir>/ca.pem.
	root, err := d.CA(DefaultCAName)
	if errors.Is(err, ErrNotFound) {
		if root, err = d.createCALocked(DefaultCAName); err != nil {
			return nil, d.raced(err)
		}
		add(fmt.Sprintf("certificate authority %s (ECDSA P-256): %s", DefaultCAName, d.where(path.Join(casDir, DefaultCAName, ca.CertFile))))
	} else if err != nil {
		return nil, err
	}
	if line, err := d.ensureCAFileLocked(root); err != nil {
		return nil, err
	} else {
		add(line)
	}

	line, err := d.ensureServerCertLocked(root, opts.ServerHosts)
	if err != nil {
		return nil, err
	}
	add(line)

	lines, err := d.ensureSigningKeysLocked()
	if err != nil {
		return nil, err
	}
	r.Created = append(r.Created, lines...)

	if _, err := d.Client(opts.ClientID); errors.Is(err, ErrNotFound) {
		c := Client{
			ID:                      opts.ClientID,
			TokenEndpointAuthMethod: oauth.AuthTLSClient,
			SubjectDN:               "CN=" + opts.ClientID,
			DeliveryMode:            oauth.ModePoll,
			GrantTypes:              []string{oauth.GrantTypeCIBA},
		}
		if err := d.addClientLocked(c); err != nil {
			return nil, d.raced(err)
		}
		add(fmt.Sprintf("client %s (tls_client_auth, subject CN=%s, poll mode): %s", c.ID, c.ID, d.where(clientsFile)))
	} else if err != nil {
		return nil, err
	}

	if _, err := d.User(opts.User); errors.Is(err, ErrNotFound) {
		if err := d.addUserLocked(User{ID: opts.User, Name: opts.User}, opts.Password); err != nil {
			return nil, d.raced(err)
		}
		add(fmt.Sprintf("user %s: %s", opts.User, d.where(usersFile)))
	} else if err != nil {
		return nil, err
	}

	line, err = d.ensureClientCredsLocked(root, opts.ClientID, r)
	if err != nil {
		return nil, err
	}
	add(line)
	return r, nil
}

// raced turns ErrExists, met by Init in JetStream after another OP
// created the same default between Init's look and its write, into
// errConflict: withLock runs Init again, which then finds it (the write's
// fresh read updated the watched copy).
func (d *Dir) raced(err error) error {
	if d.js != nil && errors.Is(err, ErrExists) {
		return errConflict
	}
	return err
}

// ensureCAFileLocked writes <dir>/ca.pem when it is missing or differs
// from the default CA's certificate.
func (d *Dir) ensureCAFileLocked(root *ca.CA) (string, error) {
	want := pki.EncodeCertificatePEM(root.Cert)
	have, err := os.ReadFile(d.CAFile())
	if err == nil && string(have) == string(want) {
		return "", nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("registry: %w", err)
	}
	if err := pki.WritePublicFile(d.CAFile(), want); err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	return "CA certificate for clients to trust the server: " + d.CAFile(), nil
}

// ensureClientCredsLocked issues the default client's credentials unless
// all four files exist and the certificate is from the default CA and
// valid for more than 30 days.
func (d *Dir) ensureClientCredsLocked(root *ca.CA, clientID string, r *InitReport) (string, error) {
	base := filepath.Join(d.file(credsDir), clientID)
	r.ClientP12 = base + ".p12"
	r.ClientP12PasswordFile = base + ".p12.pass"
	r.ClientCertPEM = base + ".pem"
	r.ClientKeyPEM = base + "-key.pem"
	if d.clientCredsGood(root, r) {
		return "", nil
	}
	password, err := randomPassword(p12PasswordLength)
	if err != nil {
		return "", err
	}
	issued, err := d.IssueClientCert(clientID, IssueOptions{CA: root.Name, Password: password})
	if err != nil {
		return "", err
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(issued.Key)
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	if err := os.MkdirAll(d.file(credsDir), 0o700); err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	for _, f := range []struct {
		path   string
		data   []byte
		public bool
	}{
		{r.ClientP12PasswordFile, []byte(password + "\n"), false},
		{r.ClientKeyPEM, keyPEM, false},
		{r.ClientCertPEM, pki.EncodeCertificatePEM(issued.Cert), true},
		{r.ClientP12, issued.P12, false},
	} {
		write := pki.WriteSecretFile
		if f.public {
			write = pki.WritePublicFile
		}
		if err := write(f.path, f.data); err != nil {
			return "", fmt.Errorf("registry: %w", err)
		}
	}
	return fmt.Sprintf("client credentials for %s (PKCS#12, password in %s): %s", clientID, r.ClientP12PasswordFile, r.ClientP12), nil
}

func (d *Dir) clientCredsGood(root *ca.CA, r *InitReport) bool {
	for _, p := range []string{r.ClientP12, r.ClientP12PasswordFile, r.ClientKeyPEM} {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	data, err := os.ReadFile(r.ClientCertPEM)
	if err != nil {
		return false
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return false
	}
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	_, err = certs[0].Verify(x509.VerifyOptions{
		Roots:       pool,
		CurrentTime: d.now().Add(renewBefore),
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err == nil
}

// randomPassword returns n random characters from [A-Za-z0-9].
func randomPassword(n int) (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b strings.Builder
	max := big.NewInt(int64(len(alphabet)))
	for range n {
		i, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("registry: random password: %w", err)
		}
		b.WriteByte(alphabet[i.Int64()])
	}
	return b.String(), nil
}
