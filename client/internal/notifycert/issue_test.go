package notifycert_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/client/internal/notifycert"
)

// TestIssuedCertificateVerifies: a certificate issued for a host verifies
// against the CA for that host and for serverAuth from now until Lifetime
// has passed, and neither for another host nor after its lifetime.
func TestIssuedCertificateVerifies(t *testing.T) {
	now := time.Now()
	tests := []struct {
		host string
		at   time.Time
		ok   bool
	}{
		{"127.0.0.1", now, true},
		{"::1", now, true},
		{"localhost", now.Add(notifycert.Lifetime - time.Minute), true},
		{"localhost", now.Add(notifycert.Lifetime + time.Minute), false},
	}
	ca := fakeop.NewCA(t, "notify CA")
	for _, tt := range tests {
		cert, err := notifycert.Issue(ca.Cert, ca.Key, tt.host, now)
		if err != nil {
			t.Fatal(err)
		}
		opts := x509.VerifyOptions{DNSName: tt.host, Roots: ca.Pool, CurrentTime: tt.at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := cert.Leaf.Verify(opts); (err == nil) != tt.ok {
			t.Errorf("%s at now+%s: verify error %v, want ok %t", tt.host, tt.at.Sub(now), err, tt.ok)
		}
		if err := cert.Leaf.VerifyHostname("example.org"); err == nil {
			t.Errorf("the certificate for %s is valid for example.org", tt.host)
		}
	}
}

func TestIssueNeedsACA(t *testing.T) {
	if _, err := notifycert.Issue(nil, nil, "127.0.0.1", time.Now()); err == nil {
		t.Error("issued without a CA")
	}
}
