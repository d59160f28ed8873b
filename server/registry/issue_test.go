package registry

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/shared/pki"
)

func mustName(t testing.TB, dn string) pkix.Name {
	t.Helper()
	n, err := parseSubjectDN(dn)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func caOpts() ca.ClientCertOptions { return ca.ClientCertOptions{} }

func TestIssueClientCert(t *testing.T) {
	clock := newClock()
	d := openDir(t, clock)
	initDir(t, d)
	team, err := d.CreateCA("team")
	if err != nil {
		t.Fatal(err)
	}
	defaultCA, err := d.CA(DefaultCAName)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Client{
		{ID: "dn", SubjectDN: "CN=dn, OU=Lab,O=Acme\\, Inc.,C=FR"},
		{ID: "dns", SANDNS: "dns.example"},
		{ID: "uri", SANURI: "spiffe://example.org/uri"},
		{ID: "ip", SANIP: "::1"},
		{ID: "mail", SANEmail: "mail@example.org"},
	} {
		if err := d.AddClient(c); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		client string
		opts   IssueOptions
		check  func(t *testing.T, c *x509.Certificate)
	}{
		{"dn", IssueOptions{Password: "pw"}, func(t *testing.T, c *x509.Certificate) {
			if got := c.Subject.String(); got != `CN=dn,OU=Lab,O=Acme\, Inc.,C=FR` {
				t.Errorf("subject %q", got)
			}
		}},
		{"dns", IssueOptions{Password: "pw", CA: "team"}, func(t *testing.T, c *x509.Certificate) {
			if c.Subject.CommonName != "dns" || len(c.DNSNames) != 1 || c.DNSNames[0] != "dns.example" {
				t.Errorf("subject %q DNS %v", c.Subject, c.DNSNames)
			}
		}},
		{"uri", IssueOptions{Password: "pw"}, func(t *testing.T, c *x509.Certificate) {
			if len(c.URIs) != 1 || c.URIs[0].String() != "spiffe://example.org/uri" {
				t.Errorf("URIs %v", c.URIs)
			}
		}},
		{"ip", IssueOptions{Password: "pw"}, func(t *testing.T, c *x509.Certificate) {
			if len(c.IPAddresses) != 1 || c.IPAddresses[0].String() != "::1" {
				t.Errorf("IPs %v", c.IPAddresses)
			}
		}},
		{"mail", IssueOptions{InsecureEmptyPassword: true, Validity: time.Hour}, func(t *testing.T, c *x509.Certificate) {
			if len(c.EmailAddresses) != 1 || c.EmailAddresses[0] != "mail@example.org" {
				t.Errorf("emails %v", c.EmailAddresses)
			}
			if c.NotAfter.Sub(clock.Now()) != time.Hour {
				t.Errorf("validity %v", c.NotAfter.Sub(clock.Now()))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			issued, err := d.IssueClientCert(tt.client, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			tc, err := pki.LoadPKCS12(issued.P12, tt.opts.Password)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.Leaf.Equal(issued.Cert) || !issued.Key.PublicKey.Equal(issued.Cert.PublicKey) {
				t.Error("PKCS#12 does not hold the issued certificate and key")
			}
			issuer, other := defaultCA, team
			if tt.opts.CA == "team" {
				issuer, other = team, defaultCA
			}
			if len(tc.Certificate) != 2 || string(tc.Certificate[1]) != string(issuer.Cert.Raw) {
				t.Error("PKCS#12 does not hold the issuing CA")
			}
			pool := x509.NewCertPool()
			pool.AddCert(issuer.Cert)
			if err := verifyClient(t, issued.Cert, pool, clock.Now()); err != nil {
				t.Errorf("verify against issuer: %v", err)
			}
			pool = x509.NewCertPool()
			pool.AddCert(other.Cert)
			if err := verifyClient(t, issued.Cert, pool, clock.Now()); err == nil {
				t.Error("verified against the other CA")
			}
			all, err := d.ClientCAPool()
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyClient(t, issued.Cert, all, clock.Now()); err != nil {
				t.Errorf("verify against ClientCAPool: %v", err)
			}
			tt.check(t, issued.Cert)
		})
	}
	if _, err := d.IssueClientCert("dn", IssueOptions{}); err == nil || !strings.Contains(err.Error(), "empty password") {
		t.Errorf("empty password: %v", err)
	}
	if _, err := d.IssueClientCert("nobody", IssueOptions{Password: "pw"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown client: %v", err)
	}
	if _, err := d.IssueClientCert("dn", IssueOptions{Password: "pw", CA: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown CA: %v", err)
	}
}

func TestCAs(t *testing.T) {
	d := openDir(t, nil)
	if cas, err := d.CAs(); err != nil || len(cas) != 0 {
		t.Fatalf("CAs on empty dir: %v %v", cas, err)
	}
	for _, name := range []string{"", "a/b", "..", ".hidden", "a b", strings.Repeat("x", 65)} {
		if _, err := d.CreateCA(name); err == nil {
			t.Errorf("CreateCA(%q) succeeded", name)
		}
	}
	if _, err := d.CreateCA("zeta"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateCA(DefaultCAName); err != nil {
		t.Fatal(err)
	}
	wantMode(t, d.CAFile(), 0o644) // creating the default CA writes ca.pem
	wantMode(t, d.file("cas/zeta/ca-key.pem"), 0o600)
	if _, err := d.CreateCA("zeta"); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate CA: %v, want ErrExists", err)
	}
	if _, err := d.CA("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown CA: %v, want ErrNotFound", err)
	}
	cas, err := d.CAs()
	if err != nil || len(cas) != 2 || cas[0].Name != "default" || cas[1].Name != "zeta" {
		t.Fatalf("CAs: %v %v", cas, err)
	}
	if cas[1].Cert.Subject.CommonName != "cibalab zeta CA" {
		t.Errorf("CN %q", cas[1].Cert.Subject.CommonName)
	}
}
