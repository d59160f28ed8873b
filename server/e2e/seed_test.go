package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/pki"
)

// TestSimpleIdServerSeedConsoleApp replays, byte for byte, what the console
// app of the SimpleIdServer CIBA walkthrough (the project's seed) sends with
// IdentityModel's defaults, against the OP's default configuration:
//
//   - TLS 1.2 only (handler.SslProtocols = SslProtocols.Tls12), the client
//     certificate from a PKCS#12 file opened without a password
//     (new X509Certificate2("CN=client.pfx")), any server certificate
//     accepted (ServerCertificateCustomValidationCallback returns true);
//   - ClientCredentialStyle.AuthorizationHeader: an HTTP Basic header with
//     the client_id and an empty secret, no client_id in the body, and
//     Accept: application/json;
//   - the seed's form fields in IdentityModel's order;
//   - then token requests in a tight loop with no pause, on the same
//     connection, printing each error until a token arrives.
//
// The README tells how to run the seed unchanged; this is that path.
func TestSimpleIdServerSeedConsoleApp(t *testing.T) {
	o := startOP(t, "--interval", "5s") // the default interval, not the suite's 1 s
	dir := t.TempDir()
	pfx := filepath.Join(dir, "CN=client.pfx")
	o.admin(t, nil, "cert", "issue", "--client", "cibaConformance", "--out", pfx, "--insecure-empty-password")
	st, err := os.Stat(pfx)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, %v, want mode 0600", pfx, st.Mode(), err)
	}
	raw, err := os.ReadFile(pfx)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.LoadPKCS12(raw, "")
	if err != nil {
		t.Fatalf("the PKCS#12 file does not open without a password, as the seed opens it: %v", err)
	}
	// The user approves a second after the card appears, so the loop
	// meets a pending request first.
	auth := o.authenticator(t, "user", "password", "--auto", "approve", "--delay", "1s", "--once")

	u, err := url.Parse(o.issuer)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12,
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // as the seed: ServerCertificateCustomValidationCallback returns true
	})
	if err != nil {
		t.Fatalf("TLS 1.2 handshake with a client certificate: %v", err)
	}
	defer conn.Close()
	if v := conn.ConnectionState().Version; v != tls.VersionTLS12 {
		t.Fatalf("negotiated TLS version %x, want 1.2", v)
	}
	rd := bufio.NewReader(conn)
	// IdentityModel's SetBasicAuthenticationOAuth: base64(urlencode(id) ":" urlencode(secret ?? "")).
	basic := base64.StdEncoding.EncodeToString([]byte("cibaConformance:"))
	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		req := "POST " + path + " HTTP/1.1\r\n" +
			"Host: " + u.Host + "\r\n" +
			"Accept: application/json\r\n" +
			"Authorization: Basic " + basic + "\r\n" +
			"Content-Type: application/x-www-form-urlencoded\r\n" +
			fmt.Sprintf("Content-Length: %d\r\n", len(body)) +
			"\r\n" + body
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatalf("POST %s: status %d, body is not JSON: %v", path, resp.StatusCode, err)
		}
		return resp.StatusCode, doc
	}

	// RequestBackchannelAuthenticationAsync: scope, login_hint,
	// binding_message, requested_expiry, form-encoded by .NET's
	// FormUrlEncodedContent (a space is '+').
	status, ack := post(u.Path+"/mtls/bc-authorize", "scope=openid+profile&login_hint=user&binding_message=Message&requested_expiry=200")
	if status != http.StatusOK {
		t.Fatalf("bc-authorize: %d %v", status, ack)
	}
	id, _ := ack["auth_req_id"].(string)
	if id == "" || ack["expires_in"] != float64(200) {
		t.Fatalf("acknowledgement %v, want an auth_req_id and expires_in 200", ack)
	}

	// RequestBackchannelAuthenticationTokenAsync in the seed's loop: no
	// pause between requests; each error is printed and the loop goes on.
	tokenBody := "grant_type=urn%3Aopenid%3Aparams%3Agrant-type%3Aciba&auth_req_id=" + url.QueryEscape(id)
	var printed []string
	var tok map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; tok == nil; n++ {
		if n == 20000 || time.Now().After(deadline) {
			t.Fatalf("no token after %d polls; the seed printed %d errors, the last %q", n, len(printed), printed[len(printed)-1])
		}
		status, doc := post(u.Path+"/mtls/token", tokenBody)
		switch {
		case status == http.StatusOK:
			tok = doc
		case doc["error"] == "authorization_pending" || doc["error"] == "slow_down":
			printed = append(printed, doc["error"].(string))
		default:
			t.Fatalf("token request %d: %d %v", n+1, status, doc)
		}
	}
	// CIBA Core 1.0 §7.3: interval is the time between polls, so the
	// first poll after the acknowledgement is not "too soon".
	if len(printed) == 0 || printed[0] != "authorization_pending" {
		t.Fatalf("the first poll got %s, want authorization_pending (the seed printed %v)", printed[0], printed[:min(len(printed), 5)])
	}
	if len(printed) < 2 {
		t.Fatalf("the loop met the pending request %d times; the test did not exercise the tight loop", len(printed))
	}
	at, _ := tok["access_token"].(string)
	if at == "" || tok["token_type"] != "Bearer" {
		t.Fatalf("token response %v", tok)
	}
	claims := o.verify(t, at)
	cnf, _ := claims["cnf"].(map[string]any)
	if claims["sub"] != "user" || claims["client_id"] != "cibaConformance" || cnf["x5t#S256"] != pki.ThumbprintS256(cert.Leaf) {
		t.Fatalf("access token claims %v, want sub user, client_id cibaConformance and the certificate's thumbprint", claims)
	}
	if !strings.Contains(strings.Join(strings.Fields(tok["scope"].(string)), " "), "profile") {
		t.Fatalf("token scope %v, want openid profile", tok["scope"])
	}
	if code := auth.exitCode(t, 10*time.Second); code != 0 {
		t.Fatalf("authenticator --once exit %d", code)
	}
	if !strings.Contains(auth.stdout.String(), "Message") {
		t.Fatalf("the device did not show the binding message:\n%s", auth.stdout)
	}
	t.Logf("token after %d polls (%d answered authorization_pending or slow_down)", len(printed)+1, len(printed))
}
