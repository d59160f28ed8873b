package registry

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

func TestOpenCreatesOnlyTheDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "state")
	d := openPath(t, path, nil)
	if d.Path() != path || d.CAFile() != filepath.Join(path, "ca.pem") {
		t.Errorf("Path %q CAFile %q", d.Path(), d.CAFile())
	}
	wantMode(t, path, 0o700)
	entries, err := os.ReadDir(path)
	if err != nil || len(entries) != 0 {
		t.Errorf("Open created %v (%v)", entries, err)
	}
	if _, err := d.ServerCertificate(); !errors.Is(err, ErrNotFound) {
		t.Errorf("ServerCertificate on an empty dir: %v, want ErrNotFound", err)
	}
	if _, err := d.ClientCAPool(); !errors.Is(err, ErrNotFound) {
		t.Errorf("ClientCAPool on an empty dir: %v, want ErrNotFound", err)
	}
	if cs, err := d.Clients(); err != nil || len(cs) != 0 {
		t.Errorf("Clients on an empty dir: %v %v", cs, err)
	}
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, "x")
	for name, path := range map[string]string{"empty": "", "file": file} {
		if _, err := Open(path, Config{}); err == nil {
			t.Errorf("%s: Open(%q) succeeded", name, path)
		}
	}
	if _, err := Open(t.TempDir(), Config{PasswordIterations: -1}); err == nil {
		t.Error("negative iterations accepted")
	}
}

func TestInitCreatesEverythingOnce(t *testing.T) {
	clock := newClock()
	d := openDir(t, clock)
	r := initDir(t, d)
	if len(r.Created) != 7 {
		t.Errorf("Created has %d lines, want 7:\n%s", len(r.Created), strings.Join(r.Created, "\n"))
	}
	wantLine := "certificate authority default (ECDSA P-256): " + filepath.Join(d.Path(), "cas", "default", "ca.pem")
	if r.Created[0] != wantLine {
		t.Errorf("first line %q, want %q", r.Created[0], wantLine)
	}
	p := func(rel string) string { return filepath.Join(d.Path(), filepath.FromSlash(rel)) }
	for rel, mode := range map[string]os.FileMode{
		"":                                 0o700,
		"ca.pem":                           0o644,
		"cas/default/ca.pem":               0o644,
		"cas/default/ca-key.pem":           0o600,
		"server/server.pem":                0o644,
		"server/server-key.pem":            0o600,
		"keys/rs256.pem":                   0o600,
		"keys/es256.pem":                   0o600,
		"users.json":                       0o600,
		"clients.json":                     0o600,
		"clients/cibaConformance.p12":      0o600,
		"clients/cibaConformance.p12.pass": 0o600,
		"clients/cibaConformance.pem":      0o644,
		"clients/cibaConformance-key.pem":  0o600,
	} {
		wantMode(t, p(rel), mode)
	}
	if r.ClientP12 != p("clients/cibaConformance.p12") || r.ClientP12PasswordFile != p("clients/cibaConformance.p12.pass") ||
		r.ClientCertPEM != p("clients/cibaConformance.pem") || r.ClientKeyPEM != p("clients/cibaConformance-key.pem") || r.CAFile != p("ca.pem") {
		t.Errorf("report paths: %+v", r)
	}

	// The default client and user.
	c, err := d.Client("cibaConformance")
	if err != nil {
		t.Fatal(err)
	}
	if c.SubjectDN != "CN=cibaConformance" || c.DeliveryMode != oauth.ModePoll || c.TokenEndpointAuthMethod != oauth.AuthTLSClient ||
		len(c.GrantTypes) != 1 || c.GrantTypes[0] != oauth.GrantTypeCIBA {
		t.Errorf("default client %+v", c)
	}
	if _, err := d.Authenticate("user", "password"); err != nil {
		t.Errorf("default user: %v", err)
	}

	// The PKCS#12 opens with the generated password and chains to the
	// client CA pool; the PEM files hold the same certificate and its key.
	pass := strings.TrimSuffix(readFile(t, r.ClientP12PasswordFile), "\n")
	if len(pass) != 24 {
		t.Errorf("password length %d, want 24", len(pass))
	}
	leaf := loadP12(t, r.ClientP12, r.ClientP12PasswordFile)
	if leaf.Subject.String() != "CN=cibaConformance" {
		t.Errorf("subject %q", leaf.Subject.String())
	}
	pool, err := d.ClientCAPool()
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyClient(t, leaf, pool, clock.Now()); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	pair, err := pki.LoadPEMKeyPair(r.ClientCertPEM, r.ClientKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !pair.Leaf.Equal(leaf) {
		t.Error("PEM certificate differs from the PKCS#12 one")
	}

	// The server certificate chains to <dir>/ca.pem for every host.
	sc, err := d.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	roots, err := pki.CertPoolFromPEMFile(r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := sc.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, CurrentTime: clock.Now()}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}

	// A second Init creates nothing and changes nothing.
	before := snapshot(t, d.Path())
	again := initDir(t, d)
	if len(again.Created) != 0 {
		t.Errorf("second Init created %q", again.Created)
	}
	if again.ClientP12 != r.ClientP12 || again.CAFile != r.CAFile {
		t.Errorf("second report %+v", again)
	}
	after := snapshot(t, d.Path())
	for path, content := range before {
		if after[path] != content {
			t.Errorf("second Init changed %s", path)
		}
	}
	// A second Dir on the same path agrees.
	if r3 := initDir(t, openPath(t, d.Path(), clock)); len(r3.Created) != 0 {
		t.Errorf("Init from another Dir created %q", r3.Created)
	}
}

// snapshot returns the content of every regular file under dir.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		files[path] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestInitReissues(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, d *Dir, clock *testClock) InitOptions
		want   []string // prefixes of the created lines
	}{
		{"other hosts", func(t *testing.T, d *Dir, clock *testClock) InitOptions {
			return InitOptions{ServerHosts: []string{"op.test", "127.0.0.1"}}
		}, []string{"server certificate for op.test, 127.0.0.1"}},
		{"server certificate expiring", func(t *testing.T, d *Dir, clock *testClock) InitOptions {
			clock.Advance(340 * 24 * time.Hour)
			return InitOptions{}
		}, []string{"server certificate for", "client credentials for"}},
		{"server certificate removed", func(t *testing.T, d *Dir, clock *testClock) InitOptions {
			os.Remove(filepath.Join(d.Path(), "server", "server.pem"))
			return InitOptions{}
		}, []string{"server certificate for"}},
		{"p12 removed", func(t *testing.T, d *Dir, clock *testClock) InitOptions {
			os.Remove(filepath.Join(d.Path(), "clients", "cibaConformance.p12"))
			return InitOptions{}
		}, []string{"client credentials for cibaConformance"}},
		{"signing key removed", func(t *testing.T, d *Dir, clock *testClock) InitOptions {
			os.Remove(filepath.Join(d.Path(), "keys", "es256.pem"))
			return InitOptions{}
		}, []string{"token signing key ES256"}},
		{"ca.pem removed", func(t *testing.T, d *Dir, clock *testClock) InitOptions {
			os.Remove(d.CAFile())
			return InitOptions{}
		}, []string{"CA certificate for clients"}},
		{"default CA replaced", func(t *testing.T, d *Dir, clock *testClock) InitOptions {
			os.RemoveAll(filepath.Join(d.Path(), "cas", "default"))
			return InitOptions{}
		}, []string{"certificate authority default", "server certificate for", "client credentials for"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			d := openDir(t, clock)
			initDir(t, d)
			opts := tt.change(t, d, clock)
			r, err := d.Init(opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Created) != len(tt.want) {
				t.Fatalf("created %q, want %d lines starting %q", r.Created, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(r.Created[i], w) {
					t.Errorf("line %d %q, want prefix %q", i, r.Created[i], w)
				}
			}
			// Whatever was re-issued still chains to the current default CA.
			roots, err := pki.CertPoolFromPEMFile(d.CAFile())
			if err != nil {
				t.Fatal(err)
			}
			sc, err := d.ServerCertificate()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sc.Leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: clock.Now()}); err != nil {
				t.Errorf("server certificate: %v", err)
			}
			if err := verifyClient(t, loadP12(t, r.ClientP12, r.ClientP12PasswordFile), roots, clock.Now()); err != nil {
				t.Errorf("client certificate: %v", err)
			}
		})
	}
}

func TestSigningKeys(t *testing.T) {
	d := openDir(t, nil)
	rs, es, err := d.SigningKeys()
	if err != nil {
		t.Fatal(err)
	}
	if rs.N.BitLen() != 2048 || es.Curve.Params().Name != "P-256" {
		t.Errorf("keys: RSA %d bits, EC %s", rs.N.BitLen(), es.Curve.Params().Name)
	}
	wantMode(t, filepath.Join(d.Path(), "keys", "rs256.pem"), 0o600)
	wantMode(t, filepath.Join(d.Path(), "keys", "es256.pem"), 0o600)
	rs2, es2, err := openPath(t, d.Path(), nil).SigningKeys()
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Equal(rs2) || !es.Equal(es2) {
		t.Error("second call returned other keys")
	}
	writeFile(t, filepath.Join(d.Path(), "keys", "es256.pem"), "garbage")
	if _, _, err := d.SigningKeys(); err == nil || !strings.Contains(err.Error(), "es256.pem") {
		t.Errorf("corrupt key: %v, want an error naming es256.pem", err)
	}
}
