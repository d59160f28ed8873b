package optest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/optest"
	"github.com/cibalab/cibalab/shared/oauth"
)

// reply is an endpoint's answer: its status and JSON body.
type reply struct {
	status int
	body   map[string]any
}

func (r reply) str(name string) string {
	s, _ := r.body[name].(string)
	return s
}

// post sends form to the endpoint path below the issuer with hc.
func post(t testing.TB, s *optest.Server, hc *http.Client, path string, form url.Values) reply {
	t.Helper()
	resp, err := hc.PostForm(s.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r reply
	r.status = resp.StatusCode
	if err := json.NewDecoder(resp.Body).Decode(&r.body); err != nil {
		t.Fatalf("%s: answer is not JSON: %v", path, err)
	}
	return r
}

// startCIBA sends a backchannel authentication request as clientID for
// the user and returns the auth_req_id, failing unless the OP accepts it.
func startCIBA(t testing.TB, s *optest.Server, clientID, user, bindingMessage string, extra ...string) string {
	t.Helper()
	form := url.Values{"client_id": {clientID}, "scope": {"openid profile"}, "login_hint": {user}}
	if bindingMessage != "" {
		form.Set("binding_message", bindingMessage)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	r := post(t, s, s.Client(clientID), "/mtls/bc-authorize", form)
	if r.status != http.StatusOK || r.str("auth_req_id") == "" {
		t.Fatalf("bc-authorize: %d %v", r.status, r.body)
	}
	return r.str("auth_req_id")
}

// poll asks the token endpoint once as clientID.
func poll(t testing.TB, s *optest.Server, clientID, authReqID string) reply {
	t.Helper()
	return post(t, s, s.Client(clientID), "/mtls/token", url.Values{
		"client_id": {clientID}, "grant_type": {oauth.GrantTypeCIBA}, "auth_req_id": {authReqID}})
}

// wantError fails unless r is the OAuth error code with status.
func wantError(t testing.TB, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Fatalf("got %d %v, want %d %s", r.status, r.body, status, code)
	}
}

// wantTokens fails unless r is a token response.
func wantTokens(t testing.TB, r reply) {
	t.Helper()
	if r.status != http.StatusOK || r.str("access_token") == "" || r.str("id_token") == "" || r.str("token_type") != "Bearer" {
		t.Fatalf("got %d %v, want tokens", r.status, r.body)
	}
}

// testContext is a context that ends with the test or after 10 s.
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// jwtIssuedAt returns the iat claim of a JWT without verifying it.
func jwtIssuedAt(t testing.TB, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		IAT int64 `json:"iat"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.IAT == 0 {
		t.Fatalf("claims %s: %v", payload, err)
	}
	return time.Unix(claims.IAT, 0)
}

func osStat(path string) (os.FileInfo, error) { return os.Stat(path) }
