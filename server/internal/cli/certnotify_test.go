package cli

import (
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/shared/pki"
)

// TestCertIssueWritesTheNotificationCertificate: for a ping or push
// client, cert issue also writes the TLS server certificate of its
// notification endpoint (key 0600), for the registered URL's host and
// issued by the CA in ca.pem, which ciba-op serve trusts for notification
// endpoints; for a poll client it writes none.
func TestCertIssueWritesTheNotificationCertificate(t *testing.T) {
	dir, env := newStateDir(t)
	mustRun(t, env, "init")
	out := t.TempDir()
	pass := writeFile(t, filepath.Join(out, "pass"), "s3cret\n")
	for _, tt := range []struct{ id, mode, url, host string }{
		{"pinger", "ping", "https://127.0.0.1:8443/ciba/notify", "127.0.0.1"},
		{"pusher", "push", "https://shop.example:9443/cb", "shop.example"},
		{"poller", "poll", "", ""},
	} {
		args := []string{"client", "add", "--id", tt.id, "--delivery-mode", tt.mode}
		if tt.url != "" {
			args = append(args, "--notification-endpoint", tt.url)
		}
		mustRun(t, env, args...)
		p12 := filepath.Join(out, tt.id+".p12")
		r := mustRun(t, env, "cert", "issue", "--client", tt.id, "--out", p12, "--password-file", pass)
		certFile, keyFile := filepath.Join(out, tt.id+"-notify.pem"), filepath.Join(out, tt.id+"-notify-key.pem")
		if tt.mode == "poll" {
			wantMissing(t, certFile, keyFile)
			if strings.Contains(r.stdout, "notify") {
				t.Errorf("poll client: %s", r.stdout)
			}
			continue
		}
		if !strings.Contains(r.stdout, "wrote:      "+certFile+" (notification endpoint certificate for "+tt.host+")") {
			t.Errorf("%s: stdout does not name the notification certificate:\n%s", tt.id, r.stdout)
		}
		wantMode(t, keyFile, 0o600)
		cert, err := pki.LoadPEMKeyPair(certFile, keyFile)
		if err != nil {
			t.Fatalf("%s: %v", tt.id, err)
		}
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		pool, err := pki.CertPoolFromPEMFile(filepath.Join(dir, "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: tt.host}); err != nil {
			t.Errorf("%s: not a server certificate for %s under ca.pem: %v", tt.id, tt.host, err)
		}
	}
}
