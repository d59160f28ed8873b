package oauth

import "encoding/json"

// BackchannelAuthResponse is the successful acknowledgement of the
// backchannel authentication endpoint (CIBA Core 1.0 §7.3).
type BackchannelAuthResponse struct {
	// AuthReqID identifies the request; opaque to the client.
	AuthReqID string `json:"auth_req_id"`
	// ExpiresIn is the lifetime of AuthReqID in seconds.
	ExpiresIn int `json:"expires_in"`
	// Interval is the minimum number of seconds between polls; absent for
	// push clients, in which case clients assume DefaultInterval.
	Interval int `json:"interval,omitempty"`
}

// TokenResponse is a successful token response (RFC 6749 §5.1,
// OpenID Connect Core 1.0 §3.1.3.3, CIBA Core 1.0 §10.1.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	// AuthorizationDetails are the authorization_details granted
	// (RFC 9396 §7): a JSON array, absent when none were requested.
	AuthorizationDetails json.RawMessage `json:"authorization_details,omitempty"`
}

// ProviderMetadata is the subset of OpenID Provider metadata
// (OpenID Connect Discovery 1.0 §3, CIBA Core 1.0 §4, RFC 8705 §3.3 and §5)
// that cibalab publishes and reads.
type ProviderMetadata struct {
	Issuer                                          string            `json:"issuer"`
	JWKSURI                                         string            `json:"jwks_uri"`
	TokenEndpoint                                   string            `json:"token_endpoint"`
	BackchannelAuthenticationEndpoint               string            `json:"backchannel_authentication_endpoint"`
	UserinfoEndpoint                                string            `json:"userinfo_endpoint,omitempty"`
	IntrospectionEndpoint                           string            `json:"introspection_endpoint,omitempty"`
	RevocationEndpoint                              string            `json:"revocation_endpoint,omitempty"`
	ScopesSupported                                 []string          `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                          []string          `json:"response_types_supported"`
	SubjectTypesSupported                           []string          `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported                []string          `json:"id_token_signing_alg_values_supported"`
	GrantTypesSupported                             []string          `json:"grant_types_supported,omitempty"`
	TokenEndpointAuthMethodsSupported               []string          `json:"token_endpoint_auth_methods_supported,omitempty"`
	TokenEndpointAuthSigningAlgValuesSupported      []string          `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	IntrospectionEndpointAuthMethodsSupported       []string          `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	RevocationEndpointAuthMethodsSupported          []string          `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	ACRValuesSupported                              []string          `json:"acr_values_supported,omitempty"`
	ClaimsSupported                                 []string          `json:"claims_supported,omitempty"`
	BackchannelTokenDeliveryModesSupported          []DeliveryMode    `json:"backchannel_token_delivery_modes_supported"`
	BackchannelAuthRequestSigningAlgValuesSupported []string          `json:"backchannel_authentication_request_signing_alg_values_supported,omitempty"`
	BackchannelUserCodeParameterSupported           bool              `json:"backchannel_user_code_parameter_supported"`
	TLSClientCertificateBoundAccessTokens           bool              `json:"tls_client_certificate_bound_access_tokens"`
	AuthorizationDetailsTypesSupported              []string          `json:"authorization_details_types_supported,omitempty"`
	MTLSEndpointAliases                             map[string]string `json:"mtls_endpoint_aliases,omitempty"`
}

// MTLSEndpoint returns the mutual-TLS alias of the named endpoint
// ("token_endpoint", "backchannel_authentication_endpoint", ...) when the
// provider publishes one, as RFC 8705 §5 requires clients to prefer, and the
// top-level value otherwise.
func (m *ProviderMetadata) MTLSEndpoint(name string) string {
	if alias := m.MTLSEndpointAliases[name]; alias != "" {
		return alias
	}
	switch name {
	case "token_endpoint":
		return m.TokenEndpoint
	case "backchannel_authentication_endpoint":
		return m.BackchannelAuthenticationEndpoint
	case "userinfo_endpoint":
		return m.UserinfoEndpoint
	case "introspection_endpoint":
		return m.IntrospectionEndpoint
	case "revocation_endpoint":
		return m.RevocationEndpoint
	}
	return ""
}
