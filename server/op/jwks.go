package op

import (
	"net/http"

	"github.com/cibalab/cibalab/shared/oauth"
)

// serveJWKS publishes the OP's public signing keys (RFC 7517 §5), which
// clients use to verify ID tokens (OpenID Connect Core 1.0 §10.1.1).
func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		noteError(w, oauth.ErrInvalidRequest)
		writeJSONStatus(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "the method must be GET"})
		return
	}
	writeJSONStatus(w, http.StatusOK, p.keys.jwks)
}
