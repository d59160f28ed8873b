package op

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/shared/oauth"
)

// FuzzUserinfo sends arbitrary Authorization headers and bodies to the
// UserInfo endpoint: it never panics, and answers only with the statuses
// of RFC 6750 §3.1 (or 200 for the one valid token of the seeds).
func FuzzUserinfo(f *testing.F) {
	fx := newFixture(f)
	at := fx.tokensFor(f, "client1", nil).str("access_token")
	f.Add("Bearer "+at, "")
	f.Add("Bearer "+at+"x", "")
	f.Add("bearer  "+at, "access_token="+url.QueryEscape(at))
	f.Add("", "access_token=a.b.c")
	f.Add("Basic dXNlcjpwYXNz", "")
	f.Add("Bearer", "access_token=%zz")
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyIn0.", "")
	f.Fuzz(func(t *testing.T, auth, body string) {
		method := http.MethodGet
		if body != "" {
			method = http.MethodPost
		}
		req := newRequest(method, pathUserinfo, body, "application/x-www-form-urlencoded")
		if auth != "" {
			req.Header["Authorization"] = []string{auth}
		}
		r := fx.do(t, req, fx.certs["client1"])
		switch r.status {
		case 200, 400, 401:
		default:
			t.Fatalf("status %d for %q / %q", r.status, auth, body)
		}
		if r.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
			t.Fatalf("401 without a Bearer challenge")
		}
	})
}

// FuzzRefreshToken sends arbitrary refresh_token and scope values to the
// token endpoint: it never panics, never issues tokens for a token it did
// not issue, and answers with RFC 6749 §5.2 errors.
func FuzzRefreshToken(f *testing.F) {
	fx := newFixture(f)
	fx.allowRefresh("client1")
	rt := fx.tokensFor(f, "client1", nil).str("refresh_token")
	f.Add(rt+"A", "openid")
	f.Add("", "")
	f.Add("a.b.c", "openid profile")
	f.Add(strings.Repeat("A", 43), "openid\x00")
	f.Add("%%%", " ")
	f.Fuzz(func(t *testing.T, token, scope string) {
		if token == rt {
			return
		}
		form := url.Values{"client_id": {"client1"}, "grant_type": {oauth.GrantTypeRefreshToken}, "refresh_token": {token}}
		if scope != "" {
			form.Set("scope", scope)
		}
		r := fx.post(t, pathToken, form, fx.certs["client1"])
		if r.status != 400 {
			t.Fatalf("status %d %s for %q", r.status, r.raw, token)
		}
		switch r.str("error") {
		case oauth.ErrInvalidRequest, oauth.ErrInvalidGrant, oauth.ErrInvalidScope:
		default:
			t.Fatalf("error %s", r.raw)
		}
	})
}
