package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/pki"
)

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestCA(t testing.TB, name string) *CA {
	t.Helper()
	c, err := New(Config{Now: func() time.Time { return fixedNow }}, name)
	if err != nil {
		t.Fatalf("New(%q): %v", name, err)
	}
	return c
}

func pool(cas ...*CA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cas {
		p.AddCert(c.Cert)
	}
	return p
}

func TestNewRoot(t *testing.T) {
	c := newTestCA(t, "default")
	cert := c.Cert
	if got, want := cert.Subject.CommonName, "cibalab default CA"; got != want {
		t.Errorf("CN = %q, want %q", got, want)
	}
	if len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "cibalab" {
		t.Errorf("O = %v, want [cibalab]", cert.Subject.Organization)
	}
	if !cert.IsCA || cert.MaxPathLen != 0 || !cert.MaxPathLenZero {
		t.Errorf("IsCA=%v MaxPathLen=%d MaxPathLenZero=%v, want CA with path length 0", cert.IsCA, cert.MaxPathLen, cert.MaxPathLenZero)
	}
	if cert.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("KeyUsage = %v", cert.KeyUsage)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T is not ECDSA P-256", cert.PublicKey)
	}
	if len(cert.SubjectKeyId) == 0 {
		t.Error("no SubjectKeyId")
	}
	if got := cert.NotAfter.Sub(fixedNow); got < 9*365*24*time.Hour {
		t.Errorf("validity %v, want about 10 years", got)
	}
	if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v is not a positive 128-bit number", cert.SerialNumber)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		t.Errorf("root is not self-signed: %v", err)
	}
	other := newTestCA(t, "default")
	if other.Cert.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Error("two roots share a serial number")
	}
}

func TestNewRejectsEmptyName(t *testing.T) {
	if _, err := New(Config{}, ""); err == nil {
		t.Fatal("New with an empty name succeeded")
	}
}

func TestIssueServer(t *testing.T) {
	c := newTestCA(t, "default")
	other := newTestCA(t, "other")
	tc, err := c.IssueServer([]string{"localhost", "127.0.0.1", "::1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if tc.Leaf == nil || len(tc.Certificate) != 2 {
		t.Fatalf("chain has %d certificates, Leaf=%v; want leaf+CA", len(tc.Certificate), tc.Leaf)
	}
	if string(tc.Certificate[1]) != string(c.Cert.Raw) {
		t.Error("second certificate of the chain is not the CA")
	}
	leaf := tc.Leaf
	if leaf.Subject.CommonName != "localhost" {
		t.Errorf("CN = %q", leaf.Subject.CommonName)
	}
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "localhost" || len(leaf.IPAddresses) != 2 {
		t.Errorf("SANs: DNS %v IP %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if !leaf.NotBefore.Equal(fixedNow.Add(-5 * time.Minute)) {
		t.Errorf("NotBefore = %v, want now-5m", leaf.NotBefore)
	}
	if _, ok := tc.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Errorf("key %T", tc.PrivateKey)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		opts := x509.VerifyOptions{Roots: pool(c), DNSName: host, CurrentTime: fixedNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := leaf.Verify(opts); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	opts := x509.VerifyOptions{Roots: pool(c), CurrentTime: fixedNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := leaf.Verify(opts); err == nil {
		t.Error("server certificate verified for client authentication")
	}
	opts = x509.VerifyOptions{Roots: pool(other), CurrentTime: fixedNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if _, err := leaf.Verify(opts); err == nil {
		t.Error("server certificate verified against another CA")
	}
	if _, err := c.IssueServer(nil, 0); err == nil {
		t.Error("IssueServer without hosts succeeded")
	}
	if _, err := c.IssueServer([]string{"a", ""}, 0); err == nil {
		t.Error("IssueServer with an empty host succeeded")
	}
}

func TestIssueClient(t *testing.T) {
	c := newTestCA(t, "default")
	other := newTestCA(t, "other")
	u, _ := url.Parse("spiffe://example.org/client")
	tests := []struct {
		name    string
		subject pkix.Name
		opts    ClientCertOptions
		check   func(t *testing.T, cert *x509.Certificate)
	}{
		{"subject dn", pkix.Name{CommonName: "cibaConformance", Organization: []string{"Acme"}}, ClientCertOptions{},
			func(t *testing.T, cert *x509.Certificate) {
				if cert.Subject.String() != "CN=cibaConformance,O=Acme" {
					t.Errorf("subject %q", cert.Subject.String())
				}
				if got := cert.NotAfter.Sub(fixedNow); got != 365*24*time.Hour {
					t.Errorf("default validity %v, want 1 year", got)
				}
			}},
		{"sans", pkix.Name{CommonName: "c"}, ClientCertOptions{
			Validity: time.Hour, DNSNames: []string{"client.example"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")},
			URIs: []*url.URL{u}, EmailAddresses: []string{"c@example.org"}},
			func(t *testing.T, cert *x509.Certificate) {
				if len(cert.DNSNames) != 1 || len(cert.IPAddresses) != 1 || len(cert.URIs) != 1 || len(cert.EmailAddresses) != 1 {
					t.Errorf("SANs missing: %v %v %v %v", cert.DNSNames, cert.IPAddresses, cert.URIs, cert.EmailAddresses)
				}
				if got := cert.NotAfter.Sub(fixedNow); got != time.Hour {
					t.Errorf("validity %v, want 1h", got)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, key, err := c.IssueClient(tt.subject, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !key.PublicKey.Equal(cert.PublicKey) {
				t.Error("key does not match certificate")
			}
			if cert.IsCA {
				t.Error("client certificate is a CA")
			}
			ok := x509.VerifyOptions{Roots: pool(c), CurrentTime: fixedNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			if _, err := cert.Verify(ok); err != nil {
				t.Errorf("verify against issuing CA: %v", err)
			}
			wrongCA := ok
			wrongCA.Roots = pool(other)
			if _, err := cert.Verify(wrongCA); err == nil {
				t.Error("verified against another CA")
			}
			wrongUsage := ok
			wrongUsage.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			if _, err := cert.Verify(wrongUsage); err == nil {
				t.Error("client certificate verified for server authentication")
			}
			tt.check(t, cert)
		})
	}
	if _, _, err := c.IssueClient(pkix.Name{}, ClientCertOptions{}); err == nil {
		t.Error("IssueClient without subject or SAN succeeded")
	}
	if _, _, err := c.IssueClient(pkix.Name{CommonName: "x"}, ClientCertOptions{Validity: -time.Hour}); err == nil {
		t.Error("IssueClient with negative validity succeeded")
	}
}

func TestSaveLoad(t *testing.T) {
	c := newTestCA(t, "team")
	dir := filepath.Join(t.TempDir(), "cas", "team")
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]os.FileMode{KeyFile: 0o600, CertFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %o, want %o", file, got, want)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode: %v %v", fi.Mode(), err)
	}
	loaded, err := Load(Config{Now: func() time.Time { return fixedNow }}, "team", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(c.Cert) || loaded.Name != "team" {
		t.Error("loaded certificate differs")
	}
	// The loaded CA signs certificates that chain to the saved root.
	cert, _, err := loaded.IssueClient(pkix.Name{CommonName: "x"}, ClientCertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool(c), CurrentTime: fixedNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate from loaded CA: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	a, b := newTestCA(t, "a"), newTestCA(t, "b")
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		want    string
	}{
		{"missing", func(t *testing.T, dir string) {}, "no such file"},
		{"key of another CA", func(t *testing.T, dir string) {
			if err := a.Save(dir); err != nil {
				t.Fatal(err)
			}
			other := t.TempDir()
			if err := b.Save(other); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(filepath.Join(other, KeyFile))
			if err := os.WriteFile(filepath.Join(dir, KeyFile), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "does not match"},
		{"garbage certificate", func(t *testing.T, dir string) {
			if err := a.Save(dir); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, CertFile), []byte("not pem"), 0o644)
		}, "no PEM certificate"},
		{"leaf instead of CA", func(t *testing.T, dir string) {
			if err := a.Save(dir); err != nil {
				t.Fatal(err)
			}
			cert, _, err := a.IssueClient(pkix.Name{CommonName: "x"}, ClientCertOptions{})
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, CertFile), pemOf(cert), 0o644)
		}, "not a CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.prepare(t, dir)
			_, err := Load(Config{}, "x", dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "ca: ") {
				t.Fatalf("Load: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func pemOf(c *x509.Certificate) []byte { return pki.EncodeCertificatePEM(c) }
