package oprun

import (
	"crypto/x509"
	"path/filepath"
	"testing"

	"github.com/cibalab/cibalab/server/ca"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
)

// TestNotificationRootsTrustTheOwnCA: the certificate ciba-op cert issue
// writes for a ping client's endpoint verifies under the roots the OP uses
// for notification endpoints; a partner CA of the state directory and an
// unrelated CA do not, unless given as extra roots, which stay unchanged.
func TestNotificationRootsTrustTheOwnCA(t *testing.T) {
	dir, err := registry.Open(filepath.Join(t.TempDir(), "state"), registry.Config{PasswordIterations: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.Init(registry.InitOptions{}); err != nil {
		t.Fatal(err)
	}
	partner, err := dir.CreateCA("partner")
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.AddClient(registry.Client{ID: "shop", SubjectDN: "CN=shop", DeliveryMode: oauth.ModePing,
		NotificationEndpoint: "https://127.0.0.1:8443/ciba/notify"}); err != nil {
		t.Fatal(err)
	}
	own, err := dir.IssueNotificationCert("shop", 0)
	if err != nil {
		t.Fatal(err)
	}
	fromPartner, err := partner.IssueServer([]string{"127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.New(ca.Config{}, "other")
	if err != nil {
		t.Fatal(err)
	}
	fromOther, err := other.IssueServer([]string{"127.0.0.1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	extra := x509.NewCertPool()
	extra.AddCert(other.Cert)
	verifies := func(pool *x509.CertPool, c *x509.Certificate) bool {
		_, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1"})
		return err == nil
	}
	plain, err := notificationRoots(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	withExtra, err := notificationRoots(dir, extra)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		pool *x509.CertPool
		cert *x509.Certificate
		want bool
	}{
		{"own CA", plain, own.Leaf, true},
		{"partner CA", plain, fromPartner.Leaf, false},
		{"other CA without --notification-ca-file", plain, fromOther.Leaf, false},
		{"own CA with --notification-ca-file", withExtra, own.Leaf, true},
		{"other CA with --notification-ca-file", withExtra, fromOther.Leaf, true},
		{"the extra pool is not modified", extra, own.Leaf, false},
	} {
		if got := verifies(tt.pool, tt.cert); got != tt.want {
			t.Errorf("%s: verifies %v, want %v", tt.name, got, tt.want)
		}
	}
}
