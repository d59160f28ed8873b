package op

import (
	"net/http"
	"slices"

	"cibalab/shared/oauth"
)

// token is the token endpoint (RFC 6749 §3.2): it authenticates the client
// (RFC 8705 §2) and dispatches on grant_type. Each grant lives in its own
// file.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) error {
	newErr := oauth.TokenError
	form, err := p.parseForm(w, r, newErr)
	if err != nil {
		return err
	}
	client, err := p.authenticateClient(r, form, newErr)
	if err != nil {
		return err
	}
	grant := form.Get(oauth.ParamGrantType)
	switch grant {
	case "":
		return oauth.TokenError(oauth.ErrInvalidRequest, "grant_type is required")
	case oauth.GrantTypeCIBA:
		if !slices.Contains(client.GrantTypes, grant) {
			return oauth.TokenError(oauth.ErrUnauthorizedClient, "the client is not registered for the CIBA grant")
		}
		return p.grantCIBA(w, r, client, form)
	case oauth.GrantTypeRefreshToken:
		if !slices.Contains(client.GrantTypes, grant) {
			return oauth.TokenError(oauth.ErrUnauthorizedClient, "the client is not registered for the refresh_token grant")
		}
		return p.grantRefresh(w, r, client, form)
	default:
		return oauth.TokenError(oauth.ErrUnsupportedGrantType, "grant_type is not supported")
	}
}
