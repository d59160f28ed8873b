package op

import (
	"net/http"
)

// Endpoint paths below the issuer.
const (
	pathDiscovery   = "/.well-known/openid-configuration"
	pathJWKS        = "/jwks"
	pathBCAuthorize = "/mtls/bc-authorize"
	pathToken       = "/mtls/token"
	pathUserinfo    = "/mtls/userinfo"
	pathIntrospect  = "/mtls/introspect"
	pathRevoke      = "/mtls/revoke"
)

// Handler returns the HTTP handler serving every endpoint below the
// issuer's path. The TLS listener in front of it should request, not
// require, client certificates (tls.RequestClientCert): each endpoint
// decides, so a missing or wrong certificate becomes an invalid_client JSON
// error (RFC 8705 §2) rather than a TLS alert.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(p.basePath+pathDiscovery, p.observed(EndpointDiscovery, http.HandlerFunc(p.serveDiscovery)))
	mux.Handle(p.basePath+pathJWKS, p.observed(EndpointJWKS, http.HandlerFunc(p.serveJWKS)))
	mux.Handle(p.basePath+pathBCAuthorize, p.observed(EndpointBCAuthorize, p.clientEndpoint(EndpointBCAuthorize, p.backchannelAuthorize, oauthBackchannel)))
	mux.Handle(p.basePath+pathToken, p.observed(EndpointToken, p.limitTokenConcurrency(p.clientEndpoint(EndpointToken, p.token, oauthToken))))
	mux.Handle(p.basePath+pathUserinfo, p.observed(EndpointUserinfo, http.HandlerFunc(p.userinfo)))
	mux.Handle(p.basePath+pathIntrospect, p.observed(EndpointIntrospect, p.clientEndpoint(EndpointIntrospect, p.introspect, oauthToken)))
	mux.Handle(p.basePath+pathRevoke, p.observed(EndpointRevoke, p.clientEndpoint(EndpointRevoke, p.revoke, oauthToken)))
	mux.Handle("/", p.observed(EndpointNotFound, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noteError(w, "not_found")
		writeJSONStatus(w, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": "no such endpoint"})
	})))
	return mux
}
