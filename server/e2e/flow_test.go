package e2e

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

// verify checks a JWT against the OP's published keys and returns its claims.
func (o *op) verify(t *testing.T, raw string) jwt.MapClaims {
	t.Helper()
	pool, err := pki.CertPoolFromPEMFile(filepath.Join(o.stateDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(o.issuer + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var jwks pki.JWKS
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		k, ok := jwks.Lookup(kid)
		if !ok {
			return nil, errors.New("unknown kid")
		}
		return k.PublicKey()
	}, jwt.WithValidMethods([]string{"RS256", "ES256"}))
	if err != nil {
		t.Fatalf("token does not verify with the OP's JWKS: %v", err)
	}
	return claims
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(s)), &m); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, s)
	}
	return m
}

// TestApprove: the whole flow of the README, with the token checked as a
// resource server would.
func TestApprove(t *testing.T) {
	o := startOP(t)
	auth := o.authenticator(t, "user", "password", "--auto", "approve", "--once")
	res := o.client(t, "--binding-message", "E2E approve")
	if res.code != 0 {
		t.Fatalf("ciba-client exit %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	tok := decodeJSON(t, res.stdout)
	if tok["token_type"] != "Bearer" {
		t.Fatalf("token_type %v", tok["token_type"])
	}
	at := o.verify(t, tok["access_token"].(string))
	p12, err := os.ReadFile(filepath.Join(o.stateDir, "clients", "cibaConformance.p12"))
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := os.ReadFile(filepath.Join(o.stateDir, "clients", "cibaConformance.p12.pass"))
	cert, err := pki.LoadPKCS12(p12, strings.TrimSpace(string(pass)))
	if err != nil {
		t.Fatal(err)
	}
	cnf, _ := at["cnf"].(map[string]any)
	if cnf["x5t#S256"] != pki.ThumbprintS256(cert.Leaf) {
		t.Fatalf("access token cnf %v is not the client certificate's thumbprint (RFC 8705 §3.1)", at["cnf"])
	}
	if at["sub"] != "user" || at["client_id"] != "cibaConformance" || at["iss"] != o.issuer {
		t.Fatalf("access token claims %v", at)
	}
	idt := o.verify(t, tok["id_token"].(string))
	if idt["aud"] != "cibaConformance" && !strings.Contains(jsonString(idt["aud"]), "cibaConformance") {
		t.Fatalf("id token aud %v", idt["aud"])
	}
	if id, _ := idt[oauth.ClaimAuthReqID].(string); len(id) < 22 {
		t.Fatalf("id token without auth_req_id claim: %v", idt)
	}
	if code := auth.exitCode(t, 10*time.Second); code != 0 {
		t.Fatalf("authenticator --once exit %d", code)
	}
	if !strings.Contains(auth.stdout.String(), "E2E approve") {
		t.Fatalf("the authenticator did not show the binding message:\n%s", auth.stdout)
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestDeny(t *testing.T) {
	o := startOP(t)
	o.authenticator(t, "user", "password", "--auto", "deny", "--once")
	res := o.client(t, "--binding-message", "E2E deny")
	if res.code != 3 {
		t.Fatalf("ciba-client exit %d, want 3 (denied):\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if doc := decodeJSON(t, res.stdout); doc["error"] != "access_denied" {
		t.Fatalf("--json error document %v", doc)
	}
}

func TestExpire(t *testing.T) {
	o := startOP(t)
	res := o.client(t, "--requested-expiry", "2")
	if res.code != 4 {
		t.Fatalf("ciba-client exit %d, want 4 (expired):\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if doc := decodeJSON(t, res.stdout); doc["error"] == nil {
		t.Fatalf("--json error document %v", doc)
	}
}

func TestClientRejected(t *testing.T) {
	o := startOP(t)
	// The certificate is cibaConformance's; the client id is another one.
	o.admin(t, nil, "client", "add", "--id", "other")
	res := o.client(t, "--client-id", "other")
	if res.code != 5 {
		t.Fatalf("ciba-client exit %d, want 5 (client rejected):\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if doc := decodeJSON(t, res.stdout); doc["error"] != "invalid_client" {
		t.Fatalf("--json error document %v", doc)
	}
	res = o.client(t, "--login-hint", "nobody")
	if res.code != 6 {
		t.Fatalf("unknown user: exit %d, want 6:\n%s", res.code, res.stderr)
	}
	if doc := decodeJSON(t, res.stdout); doc["error"] != "unknown_user_id" {
		t.Fatalf("--json error document %v", doc)
	}
}

// TestAddedWhileRunning: a client, its certificate and a user added with
// the admin commands work in the running OP without a restart.
func TestAddedWhileRunning(t *testing.T) {
	o := startOP(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("p12-secret\n"), 0o600)
	userPw := filepath.Join(dir, "userpw")
	os.WriteFile(userPw, []byte("bob-secret\n"), 0o600)

	o.admin(t, nil, "client", "add", "--id", "live", "--subject-dn", "CN=live,O=cibalab")
	o.admin(t, nil, "cert", "issue", "--client", "live", "--out", filepath.Join(dir, "live.p12"), "--password-file", pwFile)
	o.admin(t, nil, "user", "add", "--id", "bob", "--password-file", userPw)
	if st, err := os.Stat(filepath.Join(dir, "live.p12")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("live.p12: %v %v", st.Mode(), err)
	}

	o.authenticator(t, "bob", "bob-secret", "--auto", "approve", "--once")
	res := o.client(t, "--client-id", "live", "--cert", filepath.Join(dir, "live.p12"), "--cert-password-file", pwFile, "--login-hint", "bob")
	if res.code != 0 {
		t.Fatalf("ciba-client exit %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	at := o.verify(t, decodeJSON(t, res.stdout)["access_token"].(string))
	if at["sub"] != "bob" || at["client_id"] != "live" {
		t.Fatalf("claims %v", at)
	}
}

func TestAuthenticatorWrongPassword(t *testing.T) {
	o := startOP(t)
	p := start(t, []string{"CIBA_AUTH_PASSWORD=wrong"}, "ciba-authenticator", "--nats-url", o.natsURL, "--user", "user", "--auto", "approve")
	if code := p.exitCode(t, 20*time.Second); code != 5 {
		t.Fatalf("exit %d, want 5:\n%s", code, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "bad credentials") {
		t.Fatalf("stderr: %s", p.stderr)
	}
}

// TestSecondStartReuses: a restart keeps the CA, the client's credentials
// and the users.
func TestSecondStartReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first := start(t, nil, "ciba-op", "serve", "--state-dir", dir, "--addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0")
	first.waitFor(t, first.stdout, readyRE)
	if !strings.Contains(first.stdout.String(), "created ") {
		t.Fatalf("first start created nothing:\n%s", first.stdout)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "clients", "cibaConformance.p12"))
	first.cmd.Process.Signal(os.Interrupt)
	if code := first.exitCode(t, 10*time.Second); code != 130 {
		t.Fatalf("ciba-op exit %d after SIGINT", code)
	}
	second := start(t, nil, "ciba-op", "serve", "--state-dir", dir, "--addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0")
	second.waitFor(t, second.stdout, readyRE)
	if strings.Contains(second.stdout.String(), "created ") {
		t.Fatalf("second start created something:\n%s", second.stdout)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "clients", "cibaConformance.p12"))
	if string(before) != string(after) || len(after) == 0 {
		t.Fatal("the client's PKCS#12 changed across a restart")
	}
}
