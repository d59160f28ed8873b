package registry

import (
	"crypto/x509"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/shared/oauth"
)

func TestIssueNotificationCert(t *testing.T) {
	d := openDir(t, nil)
	initDir(t, d)
	if _, err := d.CreateCA("partner"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Client{
		{ID: "pinger", SubjectDN: "CN=pinger", DeliveryMode: oauth.ModePing, NotificationEndpoint: "https://127.0.0.1:8443/ciba/notify"},
		{ID: "pusher", SubjectDN: "CN=pusher", DeliveryMode: oauth.ModePush, NotificationEndpoint: "https://shop.example:9443/cb"},
		{ID: "poller", SubjectDN: "CN=poller"},
	} {
		if err := d.AddClient(c); err != nil {
			t.Fatal(err)
		}
	}
	def, err := d.CA(DefaultCAName)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(def.Cert)
	for _, tt := range []struct{ client, host string }{{"pinger", "127.0.0.1"}, {"pusher", "shop.example"}} {
		cert, err := d.IssueNotificationCert(tt.client, 0)
		if err != nil {
			t.Fatalf("%s: %v", tt.client, err)
		}
		_, err = cert.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: tt.host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		if err != nil {
			t.Errorf("%s: the certificate does not verify as a server certificate for %s under the default CA: %v", tt.client, tt.host, err)
		}
	}
	if _, err := d.IssueNotificationCert("poller", 0); err == nil || !strings.Contains(err.Error(), "poll mode") {
		t.Errorf("poll client: err %v, want a refusal naming poll mode", err)
	}
	if _, err := d.IssueNotificationCert("nobody", 0); err == nil {
		t.Error("unknown client: no error")
	}
}
