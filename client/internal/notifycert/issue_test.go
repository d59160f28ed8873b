package notifycert_test

import (
	"crypto/x509"
	"testing"
	"time"

	"cibalab/client/internal/fakeop"
	"cibalab/client/internal/notifycert"
)

// TestIssuedCertificateVerifies: a certificate issued for a host verifies
// against the CA for that host and for serverAuth, at now and until
// Lifetime has passed, and not for another host.
func TestIssuedCertificateVerifies(t *testing.T) {
	ca := fakeop.NewCA(t, "notify CA")
	now := time.Now()
	for _, host := range []string{"127.0.0.1", "localhost", "::1"} {
		t.Run(host, func(t *testing.T) {
			cert, err := notifycert.Issue(ca.Cert, ca.Key, host, now)
			if err != nil {
				t.Fatal(err)
			}
			for _, at := range []time.Time{now, now.Add(notifycert.Lifetime - time.Minute)} {
				opts := x509.VerifyOptions{DNSName: host, Roots: ca.Pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
				if _, err := cert.Leaf.Verify(opts); err != nil {
					t.Errorf("at %s: %v", at, err)
				}
			}
			if err := cert.Leaf.VerifyHostname("example.org"); err == nil {
				t.Error("the certificate is valid for another host")
			}
			if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool, CurrentTime: now.Add(notifycert.Lifetime + time.Minute)}); err == nil {
				t.Error("the certificate is valid after its lifetime")
			}
		})
	}
}

func TestIssueNeedsACA(t *testing.T) {
	if _, err := notifycert.Issue(nil, nil, "127.0.0.1", time.Now()); err == nil {
		t.Error("issued without a CA")
	}
}
