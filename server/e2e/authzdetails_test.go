package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/pki"
)

// agentClient registers the client "agent" for payment_initiation and
// account_information (RFC 9396 §10) with its certificate, and returns
// the PKCS#12 file and its password file.
func (o *op) agentClient(t *testing.T) (p12, pass string) {
	t.Helper()
	dir := t.TempDir()
	p12, pass = filepath.Join(dir, "agent.p12"), filepath.Join(dir, "agent.pass")
	if err := os.WriteFile(pass, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o.admin(t, nil, "client", "add", "--id", "agent", "--name", "Invoice agent",
		"--authorization-details-types", "payment_initiation,account_information")
	o.admin(t, nil, "cert", "issue", "--client", "agent", "--out", p12, "--password-file", pass)
	return p12, pass
}

// interactive starts ciba-authenticator for user in line mode, answering
// from the returned writer.
func (o *op) interactive(t *testing.T, user, password string, args ...string) (*process, io.Writer) {
	t.Helper()
	args = append([]string{"--nats-url", o.natsURL, "--user", user, "--device-dir", filepath.Join(t.TempDir(), "device")}, args...)
	p := &process{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin("ciba-authenticator"), args...)
	p.cmd.Env = append(os.Environ(), "CIBA_AUTH_PASSWORD="+password)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	w, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		w.Close()
		p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("authenticator stdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		}
	})
	p.waitFor(t, p.stderr, regexp.MustCompile(`signed in as `))
	return p, w
}

// runAgentClient runs ciba-client as the agent.
func (o *op) runAgentClient(t *testing.T, p12, pass string, args ...string) clientResult {
	t.Helper()
	return o.client(t, append([]string{"--client-id", "agent", "--cert", p12, "--cert-password-file", pass}, args...)...)
}

// introspect asks the OP's introspection endpoint (RFC 7662) about token
// as the agent, over mutual TLS.
func (o *op) introspect(t *testing.T, p12, pass, token string) map[string]any {
	t.Helper()
	pw, err := os.ReadFile(pass)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.LoadPKCS12File(p12, strings.TrimSpace(string(pw)))
	if err != nil {
		t.Fatal(err)
	}
	roots, err := pki.CertPoolFromPEMFile(filepath.Join(o.stateDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12}}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	resp, err := hc.PostForm(o.issuer+"/mtls/introspect", url.Values{"client_id": {"agent"}, "token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func detailTypes(v any) []string {
	arr, _ := v.([]any)
	out := []string{}
	for _, e := range arr {
		m, _ := e.(map[string]any)
		s, _ := m["type"].(string)
		out = append(out, s)
	}
	return out
}

const e2eDetails = `[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"1000.00"},` +
	`"creditorName":"ACME GmbH","creditorAccount":{"iban":"DE89370400440532013000"}},` +
	`{"type":"account_information","actions":["read_balances"],"locations":["https://bank.example/accounts"]}]`

// TestAuthorizationDetailsWithRealPrograms: ciba-client asks for a payment
// and an account read; the person at ciba-authenticator reads both in
// words and approves the second only; the token response and the
// introspection of the access token carry only that entry; ciba-client
// says what was not granted. An unknown type is refused at the start.
func TestAuthorizationDetailsWithRealPrograms(t *testing.T) {
	o := startOP(t)
	p12, pass := o.agentClient(t)
	auth, answer := o.interactive(t, "user", "password", "--once")

	done := make(chan clientResult, 1)
	go func() {
		done <- o.runAgentClient(t, p12, pass, "--authorization-details", e2eDetails, "--binding-message", "Invoice 4711")
	}()
	auth.waitFor(t, auth.stdout, regexp.MustCompile(`entry numbers to approve only those`))
	card := auth.stdout.String()
	for _, line := range []string{"1. Pay €1,000.00 to ACME GmbH, DE89 3704 0044 0532 0130 00", "2. Read balances at bank.example/accounts"} {
		if !strings.Contains(card, line) {
			t.Fatalf("the card lacks %q:\n%s", line, card)
		}
	}
	if _, err := io.WriteString(answer, "2\n"); err != nil {
		t.Fatal(err)
	}
	var res clientResult
	select {
	case res = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("ciba-client did not finish")
	}
	if res.code != 0 {
		t.Fatalf("ciba-client exit %d:\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	tok := decodeJSON(t, res.stdout)
	if got := detailTypes(tok["authorization_details"]); strings.Join(got, ",") != "account_information" {
		t.Fatalf("token response authorization_details %v", got)
	}
	if !strings.Contains(res.stderr, "✘ not granted: Pay €1,000.00 to ACME GmbH") {
		t.Errorf("ciba-client does not say what was not granted:\n%s", res.stderr)
	}
	in := o.introspect(t, p12, pass, tok["access_token"].(string))
	if in["active"] != true || strings.Join(detailTypes(in["authorization_details"]), ",") != "account_information" {
		t.Fatalf("introspection: %v", in)
	}
	at := o.verify(t, tok["access_token"].(string))
	if strings.Join(detailTypes(at["authorization_details"]), ",") != "account_information" {
		t.Fatalf("access token authorization_details: %v", at["authorization_details"])
	}

	bad := o.runAgentClient(t, p12, pass, "--authorization-details", `[{"type":"wire_transfer"}]`)
	if bad.code != 6 || decodeJSON(t, bad.stdout)["error"] != "invalid_authorization_details" {
		t.Fatalf("unknown type: exit %d %s", bad.code, bad.stdout)
	}
}

// TestAgentRecipe runs the example of docs/recipes/agent-asks-a-human.md
// (client/examples/agent) against the real OP and authenticator, whose
// rules stand for the person: payments up to 500 EUR are approved, others
// denied. The agent pays only with the grant it asked for.
func TestAgentRecipe(t *testing.T) {
	agent := filepath.Join(t.TempDir(), "agent")
	build := exec.Command("go", "build", "-o", agent, "github.com/cibalab/cibalab/client/examples/agent")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build the agent: %v\n%s", err, out)
	}
	o := startOP(t)
	p12, pass := o.agentClient(t)
	rules := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(rules, []byte(`{"rules":[
		{"client_id":"agent","details":{"type":"payment_initiation","currency":"EUR","max_amount":"500.00"},"action":"approve"},
		{"action":"deny"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	auth := o.authenticator(t, "user", "password", "--rules", rules)

	runAgent := func(amount string) (int, string, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, agent, "--issuer", o.issuer, "--ca-file", filepath.Join(o.stateDir, "ca.pem"),
			"--cert", p12, "--cert-password-file", pass, "--user", "user", "--amount", amount)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ctx.Err() != nil || (err != nil && cmd.ProcessState == nil) {
			t.Fatalf("agent did not finish: %v\n%s", err, stderr.String())
		}
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	}

	code, stdout, stderr := runAgent("120.00")
	if code != 0 || stdout != "paid invoice 4711: Pay €120.00 to ACME GmbH, DE89 3704 0044 0532 0130 00 (reference \"Invoice 4711\")\n" {
		t.Fatalf("small invoice: exit %d stdout %q\n%s", code, stdout, stderr)
	}
	if !strings.Contains(auth.stdout.String(), "Pay €120.00 to ACME GmbH, DE89 3704 0044 0532 0130 00") {
		t.Fatalf("the device did not show the amount and payee:\n%s", auth.stdout)
	}
	code, stdout, stderr = runAgent("5000.00")
	if code != 3 || stdout != "" || !strings.Contains(stderr, "the person declined: nothing paid") {
		t.Fatalf("large invoice: exit %d stdout %q\n%s", code, stdout, stderr)
	}
}
