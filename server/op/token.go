package op

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/cibalab/cibalab/shared/oauth"
)

// token is the token endpoint (RFC 6749 §3.2): for a client clientEndpoint
// authenticated (RFC 8705 §2), it lets Config.Throttle refuse it with 503 (CIBA Core 1.0
// §11) and dispatches on grant_type. Each grant lives in its own file.
func (p *Provider) token(w http.ResponseWriter, r *http.Request, form url.Values, client *authenticatedClient) error {
	if err := p.throttle(client.ID); err != nil {
		return err
	}
	grant := form.Get(oauth.ParamGrantType)
	noteGrant(w, grant)
	switch grant {
	case "":
		return oauth.TokenError(oauth.ErrInvalidRequest, "grant_type is required")
	case oauth.GrantTypeCIBA:
		if !slices.Contains(client.GrantTypes, grant) {
			return oauth.TokenError(oauth.ErrUnauthorizedClient, "the client is not registered for the CIBA grant")
		}
		if err := requireBinding(client); err != nil {
			return err
		}
		return p.grantCIBA(w, r, client, form)
	case oauth.GrantTypeRefreshToken:
		if !slices.Contains(client.GrantTypes, grant) {
			return oauth.TokenError(oauth.ErrUnauthorizedClient, "the client is not registered for the refresh_token grant")
		}
		if err := requireBinding(client); err != nil {
			return err
		}
		return p.grantRefresh(w, r, client, form)
	default:
		return oauth.TokenError(oauth.ErrUnsupportedGrantType, "grant_type is not supported")
	}
}

// requireBinding refuses, before any state changes, a client registered
// for certificate-bound tokens (tls_client_certificate_bound_access_tokens,
// RFC 8705 §3.4) that presented no certificate on this connection: its
// tokens could not be bound. The grant is not refused for good, so the
// answer is invalid_grant and the client may retry with a certificate.
func requireBinding(client *authenticatedClient) error {
	if client.TLSClientCertificateBoundAccessTokens && client.Cert == nil {
		return oauth.TokenError(oauth.ErrInvalidGrant, "this client's tokens must be bound to a client certificate (RFC 8705 §3.4); none was presented")
	}
	return nil
}
