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
	mux.HandleFunc(p.basePath+pathDiscovery, p.serveDiscovery)
	mux.HandleFunc(p.basePath+pathJWKS, p.serveJWKS)
	mux.Handle(p.basePath+pathBCAuthorize, p.clientEndpoint("bc-authorize", p.backchannelAuthorize, oauthBackchannel))
	mux.Handle(p.basePath+pathToken, p.limitTokenConcurrency(p.clientEndpoint("token", p.token, oauthToken)))
	mux.HandleFunc(p.basePath+pathUserinfo, p.userinfo)
	mux.Handle(p.basePath+pathIntrospect, p.clientEndpoint("introspect", p.introspect, oauthToken))
	mux.Handle(p.basePath+pathRevoke, p.clientEndpoint("revoke", p.revoke, oauthToken))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSONStatus(w, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": "no such endpoint"})
	})
	return mux
}
