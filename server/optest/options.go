package optest

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/cibalab/cibalab/server/op"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Option configures a Server.
type Option func(*options)

type options struct {
	policy     func(Pending) Decision
	provider   []func(*op.Config)
	logger     *slog.Logger
	notifyBase http.RoundTripper
}

// AutoApprove makes every user's device approve each request as soon as it
// is announced.
func AutoApprove() Option {
	return Policy(func(Pending) Decision { return Decision{Verdict: Approved} })
}

// AutoDeny makes every user's device deny each request as soon as it is
// announced.
func AutoDeny() Option {
	return Policy(func(Pending) Decision { return Decision{Verdict: Denied} })
}

// Policy makes the devices answer each announced request with decide's
// Decision, for instance approving only one binding message, or
// answering after a Delay. decide runs on its own goroutine for each
// request; requests it leaves Unanswered go to WaitPending.
func Policy(decide func(Pending) Decision) Option {
	return func(o *options) { o.policy = decide }
}

// Interval sets the minimum time between polls the OP asks of clients
// (CIBA Core 1.0 §7.3); the default is 5 s.
func Interval(d time.Duration) Option {
	return ProviderConfig(func(c *op.Config) { c.Interval = d })
}

// ProviderConfig lets configure adjust the OP's knobs (expiry bounds,
// token lifetimes, ...) before it starts; oprun sets the issuer, keys,
// clock and stores itself. See op.Config.
func ProviderConfig(configure func(*op.Config)) Option {
	return func(o *options) { o.provider = append(o.provider, configure) }
}

// Logger sends the OP's logs to l; by default they are discarded.
func Logger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// NotificationTransport is the transport of the OP's pings and pushes to
// clients' notification endpoints (CIBA Core 1.0 §10.2, §10.3), under the
// faults of FailNextNotification and TimeoutNextNotification. The default
// trusts the system's roots; for an endpoint served by
// httptest.NewTLSServer, pass its Client().Transport.
func NotificationTransport(rt http.RoundTripper) Option {
	return func(o *options) { o.notifyBase = rt }
}

// ClientOption configures a client registered with AddClient.
type ClientOption func(*registry.Client)

// DeliveryMode sets backchannel_token_delivery_mode (CIBA Core 1.0 §4);
// ping and push need a NotificationEndpoint.
func DeliveryMode(m oauth.DeliveryMode) ClientOption {
	return func(c *registry.Client) { c.DeliveryMode = m }
}

// NotificationEndpoint sets backchannel_client_notification_endpoint, an
// https URL (CIBA Core 1.0 §4).
func NotificationEndpoint(url string) ClientOption {
	return func(c *registry.Client) { c.NotificationEndpoint = url }
}

// AuthMethod sets token_endpoint_auth_method. Any method but
// tls_client_auth drops the default subject DN and needs its own
// credentials, set with ClientMetadata (a jwks, a client_secret_hash).
func AuthMethod(method string) ClientOption {
	return func(c *registry.Client) {
		c.TokenEndpointAuthMethod = method
		if method != oauth.AuthTLSClient {
			c.SubjectDN = ""
		}
	}
}

// SubjectDN sets tls_client_auth_subject_dn (RFC 8705 §2.1.2), an
// RFC 4514 string; the default is "CN=<client id>".
func SubjectDN(dn string) ClientOption {
	return func(c *registry.Client) { c.SubjectDN = dn }
}

// ClientName sets client_name, which the user's device shows.
func ClientName(name string) ClientOption {
	return func(c *registry.Client) { c.Name = name }
}

// AuthorizationDetailsTypes lets the client request authorization_details
// of these types (RFC 9396 §10); without it the client may send none.
func AuthorizationDetailsTypes(types ...string) ClientOption {
	return func(c *registry.Client) { c.AuthorizationDetailsTypes = append([]string(nil), types...) }
}

// ClientMetadata lets edit change any registered metadata.
func ClientMetadata(edit func(*registry.Client)) ClientOption {
	return func(c *registry.Client) { edit(c) }
}
