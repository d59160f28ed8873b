package oprun

import (
	"crypto/x509"

	"github.com/cibalab/cibalab/server/registry"
)

// notificationRoots returns the CAs trusted for clients' notification
// endpoints (CIBA Core 1.0 §9, §10.2, §10.3) besides the system roots:
// extra (ciba-op serve --notification-ca-file), which is not modified, plus
// the state directory's default CA, which issues notification endpoint
// certificates (registry.Dir.IssueNotificationCert, ciba-op cert issue), so
// that ping and push work with the OP's own certificates out of the box.
// The other CAs of the state directory are trusted for client
// certificates only.
func notificationRoots(dir *registry.Dir, extra *x509.CertPool) (*x509.CertPool, error) {
	own, err := dir.CA(registry.DefaultCAName)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if extra != nil {
		pool = extra.Clone()
	}
	pool.AddCert(own.Cert)
	return pool, nil
}
