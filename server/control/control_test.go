package control

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cibalab/cibalab/shared/pki"
)

// TestAuthentication: every endpoint, known or not, wants the bearer
// token: missing, wrong, or under another scheme it is 401 with a JSON
// error and a WWW-Authenticate challenge.
func TestAuthentication(t *testing.T) {
	f := newFixture(t, false)
	for _, tc := range []struct{ name, method, path, auth string }{
		{"missing", "GET", "/clients", ""},
		{"wrong", "GET", "/clients", "Bearer wrong"},
		{"prefix of the token", "GET", "/clients", "Bearer " + testToken[:10]},
		{"basic scheme", "GET", "/clients", "Basic " + testToken},
		{"unknown path", "GET", "/nothing", ""},
		{"approve", "POST", "/requests/x/approve", "Bearer x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, f.srv.URL+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("status %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
			status, out := f.callAuth(tc.method, tc.path, nil, tc.auth)
			if status != http.StatusUnauthorized || out["error"] != "unauthorized" {
				t.Fatalf("%d %v", status, out)
			}
		})
	}
	// The right token under a lower-case scheme is accepted.
	if status, _ := f.callAuth("GET", "/clients", nil, "bearer "+testToken); status != http.StatusOK {
		t.Fatalf("lower-case bearer: %d", status)
	}
	f.wantError("GET", "/nothing", nil, http.StatusNotFound, "not_found")
	f.wantError("DELETE", "/clock", nil, http.StatusMethodNotAllowed, "method_not_allowed")
}

// TestNewNeedsTokenAndOP: an API without a token or an OP is refused.
func TestNewNeedsTokenAndOP(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a token")
	}
	if _, err := New(Config{Token: "x"}); err == nil {
		t.Fatal("New without an OP")
	}
}

// TestCheckAddr: only loopback addresses unless allowed.
func TestCheckAddr(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:0": true, "[::1]:8080": true, "localhost:0": true,
		"0.0.0.0:0": false, ":0": false, "192.0.2.1:80": false, "example.com:80": false, "127.0.0.1": false,
	} {
		err := CheckAddr(addr, false)
		if (err == nil) != ok {
			t.Errorf("CheckAddr(%q) = %v, want ok=%v", addr, err, ok)
		}
		if err != nil && addr != "127.0.0.1" && !strings.Contains(err.Error(), "--control-allow-remote") {
			t.Errorf("CheckAddr(%q): %v does not say how to allow it", addr, err)
		}
	}
	if err := CheckAddr("0.0.0.0:0", true); err != nil {
		t.Fatalf("allowed remote: %v", err)
	}
	if err := CheckAddr("no-port", true); err == nil {
		t.Fatal("an address without a port was accepted")
	}
}

// TestWriteToken: the token file is readable by its owner only and holds
// the token.
func TestWriteToken(t *testing.T) {
	dir := t.TempDir()
	tok, err := NewToken()
	if err != nil || len(tok) < 40 {
		t.Fatalf("NewToken: %q, %v", tok, err)
	}
	path, err := WriteToken(dir, tok)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 || path != filepath.Join(dir, TokenFile) {
		t.Fatalf("%s: %v, %v", path, st.Mode(), err)
	}
	data, _ := os.ReadFile(path)
	if strings.TrimSpace(string(data)) != tok {
		t.Fatalf("file holds %q", data)
	}
}

// TestClients: register, read, update, remove, with their errors.
func TestClients(t *testing.T) {
	f := newFixture(t, false)
	out := f.want("POST", "/clients", map[string]any{"client_id": "shop", "client_name": "Shop", "tls_client_auth_subject_dn": "CN=shop"}, http.StatusCreated)
	if out["backchannel_token_delivery_mode"] != "poll" || out["token_endpoint_auth_method"] != "tls_client_auth" {
		t.Fatalf("defaults: %v", out)
	}
	f.wantError("POST", "/clients", map[string]any{"client_id": "shop", "tls_client_auth_subject_dn": "CN=shop"}, http.StatusConflict, "already_exists")
	f.wantError("POST", "/clients", map[string]any{"client_id": "bad", "backchannel_token_delivery_mode": "ping"}, http.StatusBadRequest, "invalid_metadata")
	f.wantError("POST", "/clients", map[string]any{"client_id": "x", "no_such_field": 1}, http.StatusBadRequest, "invalid_request")
	f.wantError("POST", "/clients", "{not json", http.StatusBadRequest, "invalid_request")
	f.wantError("POST", "/clients", "", http.StatusBadRequest, "invalid_request")
	if _, err := f.op.Dir.Client("bad"); err == nil {
		t.Fatal("a refused registration was stored")
	}

	secret := f.want("POST", "/clients", map[string]any{"client_id": "legacy", "token_endpoint_auth_method": "client_secret_basic"}, http.StatusCreated)
	if s, _ := secret["client_secret"].(string); len(s) < 43 {
		t.Fatalf("no generated client_secret: %v", secret)
	}
	if c, _ := f.op.Dir.Client("legacy"); c == nil || !c.CheckSecret(secret["client_secret"].(string)) {
		t.Fatal("the answered client_secret does not authenticate the client")
	}

	list := f.want("GET", "/clients", nil, http.StatusOK)
	if n := len(list["clients"].([]any)); n != 3 {
		t.Fatalf("%d clients, want 3 (cibaConformance, legacy, shop)", n)
	}
	f.want("GET", "/clients/shop", nil, http.StatusOK)
	f.wantError("GET", "/clients/nobody", nil, http.StatusNotFound, "not_found")

	out = f.want("PATCH", "/clients/shop", map[string]any{"client_name": "Shop 2", "tls_client_auth_subject_dn": "CN=shop2"}, http.StatusOK)
	if out["client_name"] != "Shop 2" || out["tls_client_auth_subject_dn"] != "CN=shop2" {
		t.Fatalf("after PATCH: %v", out)
	}
	out = f.want("PATCH", "/clients/shop", map[string]any{"client_name": nil}, http.StatusOK)
	if _, ok := out["client_name"]; ok {
		t.Fatalf("null did not remove client_name: %v", out)
	}
	f.wantError("PATCH", "/clients/shop", map[string]any{"client_id": "other"}, http.StatusBadRequest, "invalid_request")
	f.wantError("PATCH", "/clients/shop", map[string]any{"backchannel_token_delivery_mode": "push"}, http.StatusBadRequest, "invalid_metadata")
	f.wantError("PATCH", "/clients/nobody", map[string]any{"client_name": "x"}, http.StatusNotFound, "not_found")
	if c, _ := f.op.Dir.Client("shop"); c.DeliveryMode != "poll" {
		t.Fatal("a refused PATCH changed the client")
	}

	f.want("DELETE", "/clients/shop", nil, http.StatusNoContent)
	f.wantError("DELETE", "/clients/shop", nil, http.StatusNotFound, "not_found")
	f.wantError("GET", "/clients/shop", nil, http.StatusNotFound, "not_found")
}

// TestCertificates: the PKCS#12 and the PEM pair hold the same
// certificate for the registered subject; an unknown client is 404.
func TestCertificates(t *testing.T) {
	f := newFixture(t, false)
	f.want("POST", "/clients", map[string]any{"client_id": "shop", "tls_client_auth_subject_dn": "CN=shop,O=Example"}, http.StatusCreated)
	out := f.want("POST", "/clients/shop/certificates", nil, http.StatusCreated)
	p12, err := base64.StdEncoding.DecodeString(out["pkcs12"].(string))
	if err != nil {
		t.Fatal(err)
	}
	pw := out["password"].(string)
	if len(pw) < 16 {
		t.Fatalf("generated password %q", pw)
	}
	cert, err := pki.LoadPKCS12(p12, pw)
	if err != nil {
		t.Fatalf("the PKCS#12 does not open with its password: %v", err)
	}
	if got := pki.ThumbprintS256(cert.Leaf); got != out["x5t#S256"] {
		t.Fatalf("x5t#S256 %v, the PKCS#12 holds %s", out["x5t#S256"], got)
	}
	if cert.Leaf.Subject.String() != "CN=shop,O=Example" || out["subject"] != "CN=shop,O=Example" {
		t.Fatalf("subject %s / %v", cert.Leaf.Subject, out["subject"])
	}
	if !strings.Contains(out["certificate_pem"].(string), "BEGIN CERTIFICATE") || !strings.Contains(out["private_key_pem"].(string), "PRIVATE KEY") {
		t.Fatalf("PEM: %v", out)
	}
	f.wantError("POST", "/clients/nobody/certificates", nil, http.StatusNotFound, "not_found")
	f.wantError("POST", "/clients/shop/certificates", map[string]any{"validity_days": -1}, http.StatusBadRequest, "invalid_request")
	f.wantError("POST", "/clients/shop/certificates", map[string]any{"ca": "nope"}, http.StatusNotFound, "not_found")
}

// TestUsers: register, update, remove; a new password enrolls devices,
// the old one no more.
func TestUsers(t *testing.T) {
	f := newFixture(t, false)
	out := f.want("POST", "/users", map[string]any{"id": "alice", "password": "pw", "name": "Alice"}, http.StatusCreated)
	if out["id"] != "alice" || out["name"] != "Alice" || out["password_hash"] != nil {
		t.Fatalf("%v", out)
	}
	f.wantError("POST", "/users", map[string]any{"id": "alice", "password": "pw"}, http.StatusConflict, "already_exists")
	f.wantError("POST", "/users", map[string]any{"id": "bob"}, http.StatusBadRequest, "invalid_request")
	f.wantError("POST", "/users", map[string]any{"id": "bad id", "password": "pw"}, http.StatusBadRequest, "invalid_metadata")
	f.wantError("POST", "/users", map[string]any{"id": "carol", "password": "pw", "user_code": "1"}, http.StatusBadRequest, "invalid_metadata")
	if _, err := f.op.Dir.User("carol"); err == nil {
		t.Fatal("a user with a refused user_code was kept")
	}
	out = f.want("PATCH", "/users/alice", map[string]any{"email": "a@example.com", "password": "new", "user_code": "1234"}, http.StatusOK)
	if out["email"] != "a@example.com" || out["has_user_code"] != true {
		t.Fatalf("%v", out)
	}
	if _, err := f.op.Dir.Authenticate("alice", "new"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	f.wantError("PATCH", "/users/alice", map[string]any{"password": ""}, http.StatusBadRequest, "invalid_request")
	f.wantError("PATCH", "/users/nobody", map[string]any{"name": "x"}, http.StatusNotFound, "not_found")
	if n := len(f.want("GET", "/users", nil, http.StatusOK)["users"].([]any)); n != 2 {
		t.Fatalf("%d users, want 2", n)
	}
	f.want("GET", "/users/alice", nil, http.StatusOK)
	f.want("DELETE", "/users/alice", nil, http.StatusNoContent)
	f.wantError("DELETE", "/users/alice", nil, http.StatusNotFound, "not_found")
	f.wantError("GET", "/users/alice", nil, http.StatusNotFound, "not_found")
}
