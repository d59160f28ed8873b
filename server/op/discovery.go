package op

import (
	"net/http"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/authzdetails"
	"github.com/cibalab/cibalab/shared/oauth"
)

// Metadata returns the provider's metadata (OpenID Connect Discovery 1.0
// §3, CIBA Core 1.0 §4, RFC 8705 §3.3 and §5, RFC 8414 §2). The endpoints
// live under /mtls and the top-level URLs and their mtls_endpoint_aliases
// are the same; clients that follow RFC 8705 §5 use the aliases.
func (p *Provider) Metadata() *oauth.ProviderMetadata {
	methods := registry.AuthMethods()
	return &oauth.ProviderMetadata{
		Issuer:                                     p.cfg.Issuer,
		JWKSURI:                                    p.url(pathJWKS),
		TokenEndpoint:                              p.url(pathToken),
		BackchannelAuthenticationEndpoint:          p.url(pathBCAuthorize),
		UserinfoEndpoint:                           p.url(pathUserinfo),
		IntrospectionEndpoint:                      p.url(pathIntrospect),
		RevocationEndpoint:                         p.url(pathRevoke),
		ScopesSupported:                            supportedScopes(),
		ResponseTypesSupported:                     []string{},
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           registry.IDTokenAlgs(),
		GrantTypesSupported:                        []string{oauth.GrantTypeCIBA, oauth.GrantTypeRefreshToken},
		TokenEndpointAuthMethodsSupported:          methods,
		TokenEndpointAuthSigningAlgValuesSupported: p.clientAlgs(),
		IntrospectionEndpointAuthMethodsSupported:  methods,
		RevocationEndpointAuthMethodsSupported:     methods,
		ACRValuesSupported:                         p.acrValuesSupported(),
		ClaimsSupported: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "acr", "amr", "at_hash",
			oauth.ClaimAuthReqID, oauth.ClaimRTHash, "name", "email"},
		BackchannelTokenDeliveryModesSupported:          []oauth.DeliveryMode{oauth.ModePoll, oauth.ModePing, oauth.ModePush},
		BackchannelAuthRequestSigningAlgValuesSupported: p.clientAlgs(),
		BackchannelUserCodeParameterSupported:           p.cfg.UserCodeSupported,
		TLSClientCertificateBoundAccessTokens:           true,
		AuthorizationDetailsTypesSupported:              authzdetails.BuiltinTypes(),
		MTLSEndpointAliases: map[string]string{
			"token_endpoint":                      p.url(pathToken),
			"backchannel_authentication_endpoint": p.url(pathBCAuthorize),
			"userinfo_endpoint":                   p.url(pathUserinfo),
			"introspection_endpoint":              p.url(pathIntrospect),
			"revocation_endpoint":                 p.url(pathRevoke),
		},
	}
}

// supportedScopes returns the scope values the OP accepts.
func supportedScopes() []string { return []string{"openid", "profile", "email"} }

// serveDiscovery serves the metadata at
// {issuer}/.well-known/openid-configuration (OpenID Connect Discovery 1.0 §4).
func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		noteError(w, oauth.ErrInvalidRequest)
		writeJSONStatus(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "the method must be GET"})
		return
	}
	writeJSONStatus(w, http.StatusOK, p.Metadata())
}
