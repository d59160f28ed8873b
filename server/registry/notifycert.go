package registry

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// IssueNotificationCert issues a TLS server certificate (EKU serverAuth)
// for the host of the backchannel_client_notification_endpoint of the
// registered ping or push client clientID (CIBA Core 1.0 §4, §9). It is
// always issued by the default CA, which ciba-op serve trusts for
// notification endpoints, so the client can serve its endpoint with it as
// it is. validity 0 means one year. It writes nothing.
func (d *Dir) IssueNotificationCert(clientID string, validity time.Duration) (tls.Certificate, error) {
	client, err := d.Client(clientID)
	if err != nil {
		return tls.Certificate{}, err
	}
	if client.DeliveryMode != oauth.ModePing && client.DeliveryMode != oauth.ModePush {
		return tls.Certificate{}, fmt.Errorf("registry: client %s is in %s mode: only ping and push clients have a notification endpoint", clientID, client.DeliveryMode)
	}
	u, err := url.Parse(client.NotificationEndpoint)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return tls.Certificate{}, fmt.Errorf("registry: client %s: backchannel_client_notification_endpoint %q is not an https URL (CIBA Core 1.0 §4)", clientID, client.NotificationEndpoint)
	}
	root, err := d.CA(DefaultCAName)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := root.IssueServer([]string{u.Hostname()}, validity)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("registry: client %s: notification endpoint certificate: %w", clientID, err)
	}
	d.log.Info("registry.notification_certificate_issued", "client_id", clientID, "host", u.Hostname(),
		"x5t#S256", pki.ThumbprintS256(cert.Leaf), "not_after", cert.Leaf.NotAfter)
	return cert, nil
}
