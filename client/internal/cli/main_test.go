package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/client/internal/cli"
	"github.com/cibalab/cibalab/client/internal/fakeop"
	"github.com/cibalab/cibalab/shared/oauth"
	"github.com/cibalab/cibalab/shared/pki"
)

func TestExitCodesAndJSON(t *testing.T) {
	tests := []struct {
		name     string
		cfg      fakeop.Config
		extra    []string
		wantCode int
		wantJSON string // exact stdout with --json; "" for the token response
	}{
		{
			name:     "approve",
			cfg:      fakeop.Config{Token: tokens(fakeop.Pending(), fakeop.TokenReply("at-1"))},
			wantCode: cli.ExitOK,
		},
		{
			name:     "access_denied",
			cfg:      fakeop.Config{Token: tokens(fakeop.Pending(), fakeop.TokenError(oauth.ErrAccessDenied, "the user denied the request"))},
			wantCode: cli.ExitDenied,
			wantJSON: `{"error":"access_denied","error_description":"the user denied the request"}`,
		},
		{
			name:     "expired_token",
			cfg:      fakeop.Config{Token: tokens(fakeop.TokenError(oauth.ErrExpiredToken, "too late"))},
			wantCode: cli.ExitExpired,
			wantJSON: `{"error":"expired_token","error_description":"too late"}`,
		},
		{
			name:     "local expiry",
			cfg:      fakeop.Config{Ack: ackOf(12, 5), Token: tokens(fakeop.Pending())},
			wantCode: cli.ExitExpired,
			wantJSON: `{"error":"expired","error_description":"the request expired (expires_in elapsed) before an answer reached the client"}`,
		},
		{
			name:     "invalid_client",
			extra:    []string{"--client-id", "someoneElse"},
			wantCode: cli.ExitClient,
			wantJSON: `{"error":"invalid_client","error_description":"unknown client"}`,
		},
		{
			name: "unauthorized_client",
			cfg: fakeop.Config{Ack: func(fakeop.Request) fakeop.Reply {
				return fakeop.BackchannelError(oauth.ErrUnauthorizedClient, "no CIBA")
			}},
			wantCode: cli.ExitClient,
			wantJSON: `{"error":"unauthorized_client","error_description":"no CIBA"}`,
		},
		{
			name: "unknown_user_id",
			cfg: fakeop.Config{Ack: func(fakeop.Request) fakeop.Reply {
				return fakeop.BackchannelError(oauth.ErrUnknownUserID, "no such user")
			}},
			wantCode: cli.ExitRejected,
			wantJSON: `{"error":"unknown_user_id","error_description":"no such user"}`,
		},
		{
			name:     "invalid_grant while polling",
			cfg:      fakeop.Config{Token: tokens(fakeop.TokenError(oauth.ErrInvalidGrant, ""))},
			wantCode: cli.ExitRejected,
			wantJSON: `{"error":"invalid_grant"}`,
		},
		{
			name:     "malformed acknowledgement",
			cfg:      fakeop.Config{Ack: func(fakeop.Request) fakeop.Reply { return fakeop.Raw(200, "application/json", `{"expires_in":60}`) }},
			wantCode: cli.ExitError,
		},
	}
	for _, tt := range tests {
		for _, asJSON := range []bool{false, true} {
			name := tt.name
			if asJSON {
				name += "/json"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, tt.cfg)
				args := h.args(tt.extra...)
				if asJSON {
					args = append(args, "--json")
				}
				res := h.run(t, context.Background(), args...)
				if res.code != tt.wantCode {
					t.Fatalf("exit %d, want %d\nstderr:\n%s", res.code, tt.wantCode, res.stderr)
				}
				switch {
				case tt.wantCode == cli.ExitOK && !asJSON:
					if res.stdout != "at-1\n" {
						t.Errorf("stdout %q, want the access token on one line", res.stdout)
					}
				case tt.wantCode == cli.ExitOK:
					assertOneJSON(t, res.stdout)
					var got map[string]any
					json.Unmarshal([]byte(res.stdout), &got)
					if got["access_token"] != "at-1" || got["token_type"] != "Bearer" || got["id_token"] == nil || got["expires_in"] != 300.0 {
						t.Errorf("stdout %s, want the whole token response", res.stdout)
					}
				case asJSON && tt.wantJSON != "":
					if res.stdout != tt.wantJSON+"\n" {
						t.Errorf("stdout\n got %s\nwant %s", res.stdout, tt.wantJSON)
					}
				case asJSON:
					assertOneJSON(t, res.stdout)
				default:
					if res.stdout != "" {
						t.Errorf("stdout %q, want nothing on failure", res.stdout)
					}
				}
				if strings.Contains(res.stderr, fakeop.DefaultAuthReqID) || strings.Contains(res.stderr, "at-1") {
					t.Errorf("stderr holds a secret:\n%s", res.stderr)
				}
			})
		}
	}
}

func ackOf(expiresIn, interval int) func(fakeop.Request) fakeop.Reply {
	return func(fakeop.Request) fakeop.Reply {
		return fakeop.AckReply(fakeop.DefaultAuthReqID, expiresIn, interval)
	}
}

// assertOneJSON checks that s is exactly one JSON object and a newline.
func assertOneJSON(tb testing.TB, s string) {
	tb.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("stdout is not a JSON object: %v\n%s", err, s)
	}
	if _, err := dec.Token(); err != io.EOF || !strings.HasSuffix(s, "}\n") {
		tb.Fatalf("stdout has more than one JSON document:\n%s", s)
	}
}

func TestStepLines(t *testing.T) {
	h := newHarness(t, fakeop.Config{Token: tokens(fakeop.Pending(), fakeop.SlowDown(), fakeop.TokenReply("at-1"))})
	res := h.run(t, context.Background(), h.args("--binding-message", "W4SCT", "--requested-expiry", "60")...)
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	for _, want := range []string{
		"→ GET " + h.op.Issuer + "/.well-known/openid-configuration",
		"← bc-authorize " + h.op.BackchannelURL + ", token " + h.op.TokenURL + " (mtls_endpoint_aliases, RFC 8705 §5)",
		"→ POST " + h.op.BackchannelURL + " (CIBA §7.1) client_id=cibaConformance login_hint=user",
		"← auth_req_id req=" + oauth.ReqRef(fakeop.DefaultAuthReqID) + ", expires in 120 s, interval 5 s",
		`binding message "W4SCT"`,
		"… authorization_pending (poll 1, 115 s left)",
		"… slow_down (poll 2): interval now 10s",
		"← access token (Bearer, expires in 300 s, scope openid profile, with id_token checked: sub user, ES256)",
	} {
		if !strings.Contains(res.stderr, want+"") {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if strings.Contains(res.stderr, "\r") {
		t.Error("countdown drawn although stderr is not a terminal")
	}
	bc := h.op.Requests("/mtls/bc-authorize")
	if len(bc) != 1 || bc[0].Form.Get("requested_expiry") != "60" || bc[0].Form.Get("binding_message") != "W4SCT" ||
		bc[0].Form.Get("scope") != "openid profile" || bc[0].Cert == nil {
		t.Errorf("backchannel request %+v", bc)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"requested-expiry zero", []string{"--requested-expiry", "0"}, nil, "--requested-expiry"},
		{"requested-expiry negative", []string{"--requested-expiry=-5"}, nil, "--requested-expiry"},
		{"requested-expiry text", []string{"--requested-expiry", "soon"}, nil, "--requested-expiry"},
		{"requested-expiry fraction", []string{"--requested-expiry", "1.5"}, nil, "--requested-expiry"},
		{"requested-expiry from env", nil, map[string]string{"CIBA_CLIENT_REQUESTED_EXPIRY": "x"}, "$CIBA_CLIENT_REQUESTED_EXPIRY"},
		{"unknown flag", []string{"--nope"}, nil, "nope"},
		{"stray argument", []string{"extra"}, nil, "extra"},
		{"bad timeout", []string{"--timeout", "-1s"}, nil, "--timeout"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"bad boolean env", nil, map[string]string{"CIBA_CLIENT_JSON": "maybe"}, "$CIBA_CLIENT_JSON"},
		{"no openid", []string{"--scope", "profile"}, nil, "openid"},
		{"p12 and pem", []string{"--cert", "a.p12", "--cert-pem", "a.pem", "--key-pem", "k.pem"}, nil, "exclude"},
		{"pem without key", []string{"--cert-pem", "a.pem"}, nil, "together"},
		{"missing cert file", []string{"--cert", "/nonexistent/client.p12"}, nil, "--cert /nonexistent/client.p12: no such file"},
		{"missing ca file", []string{"--ca-file", "/nonexistent/ca.pem"}, nil, "--ca-file /nonexistent/ca.pem: no such file"},
		{"bad delivery mode", []string{"--delivery-mode", "fax"}, nil, "--delivery-mode"},
		{"bad auth method", []string{"--auth-method", "client_secret_basic"}, nil, "--auth-method"},
		{"private_key_jwt without key", []string{"--auth-method", "private_key_jwt"}, nil, "--assertion-key"},
		{"sign-requests without key", []string{"--sign-requests"}, nil, "--request-key"},
		{"request key without sign-requests", []string{"--request-key", "k.pem"}, nil, "--sign-requests"},
		{"two hints", []string{"--login-hint", "user", "--id-token-hint", "hint.jwt"}, nil, "exactly one"},
		{"notify cert without key", []string{"--notify-cert", "a.pem"}, nil, "--notify-key"},
		{"ping without TLS material", []string{"--delivery-mode", "ping", "--ca-file", "/nonexistent/ca.pem"}, nil, "no such file"},
		{"bad id token max age", []string{"--id-token-max-age", "soon"}, nil, "--id-token-max-age"},
		{"missing login_hint_token file", []string{"--login-hint-token", "/nonexistent/lht"}, nil, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli.Main(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr,
				func(k string) string { return tt.env[k] })
			if code != cli.ExitUsage {
				t.Fatalf("exit %d, want %d\n%s", code, cli.ExitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) || !strings.HasPrefix(stderr.String(), "ciba-client: ") {
				t.Errorf("stderr %q, want a ciba-client: message naming %q", stderr.String(), tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

func TestMissingCertFileWithJSON(t *testing.T) {
	h := newHarness(t, fakeop.Config{})
	res := h.run(t, context.Background(), "--issuer", h.op.Issuer, "--cert", filepath.Join(h.dir, "missing.p12"), "--json")
	if res.code != cli.ExitUsage {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	want := `{"error":"usage","error_description":"--cert ` + filepath.Join(h.dir, "missing.p12") + `: no such file"}` + "\n"
	if res.stdout != want {
		t.Errorf("stdout\n got %s\nwant %s", res.stdout, want)
	}
	if len(h.op.Requests("")) != 0 {
		t.Error("requests sent")
	}
}

func TestWrongP12Password(t *testing.T) {
	h := newHarness(t, fakeop.Config{})
	if err := os.WriteFile(h.passFile, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, asJSON := range []bool{false, true} {
		args := h.args()
		if asJSON {
			args = append(args, "--json")
		}
		res := h.run(t, context.Background(), args...)
		if res.code != cli.ExitClient {
			t.Fatalf("exit %d, want %d\n%s", res.code, cli.ExitClient, res.stderr)
		}
		if strings.Count(res.stderr, "\n") != 1 || !strings.Contains(res.stderr, "wrong password") {
			t.Errorf("stderr %q, want one line about the wrong password", res.stderr)
		}
		if asJSON {
			assertOneJSON(t, res.stdout)
			if !strings.HasPrefix(res.stdout, `{"error":"client_error","error_description":"cannot use the client certificate: PKCS#12: wrong password`) {
				t.Errorf("stdout %s", res.stdout)
			}
		}
	}
	if len(h.op.Requests("")) != 0 {
		t.Error("requests sent with an unusable certificate")
	}
}

func TestPasswordSources(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness) []string
	}{
		{"password file", func(h *harness) []string { return h.args() }},
		{"environment", func(h *harness) []string {
			h.env["CIBA_CLIENT_CERT_PASSWORD"] = p12Password
			return []string{"--issuer", h.op.Issuer, "--cert", h.files.P12, "--ca-file", h.files.CAFile}
		}},
		{"password file from environment", func(h *harness) []string {
			h.env["CIBA_CLIENT_CERT_PASSWORD_FILE"] = h.passFile
			return []string{"--issuer", h.op.Issuer, "--cert", h.files.P12, "--ca-file", h.files.CAFile}
		}},
		{"PEM files", func(h *harness) []string {
			return []string{"--issuer", h.op.Issuer, "--cert-pem", h.files.CertPEM, "--key-pem", h.files.KeyPEM, "--ca-file", h.files.CAFile}
		}},
		{"state directory defaults", func(h *harness) []string {
			state := filepath.Join(h.dir, "state")
			mustCopy(t, h.files.P12, filepath.Join(state, "clients", "cibaConformance.p12"))
			mustCopy(t, h.passFile, filepath.Join(state, "clients", "cibaConformance.p12.pass"))
			mustCopy(t, h.files.CAFile, filepath.Join(state, "ca.pem"))
			h.env["CIBA_CLIENT_STATE_DIR"] = state
			return []string{"--issuer", h.op.Issuer}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, fakeop.Config{})
			res := h.run(t, context.Background(), tt.setup(h)...)
			if res.code != cli.ExitOK || res.stdout != "fake-access-token\n" {
				t.Fatalf("exit %d stdout %q\n%s", res.code, res.stdout, res.stderr)
			}
		})
	}
}

func mustCopy(tb testing.TB, from, to string) {
	tb.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := pki.WriteSecretFile(to, data); err != nil {
		tb.Fatal(err)
	}
}

func TestFlagBeatsEnvironment(t *testing.T) {
	h := newHarness(t, fakeop.Config{})
	h.env["CIBA_CLIENT_CLIENT_ID"] = "someoneElse"
	if res := h.run(t, context.Background(), h.args()...); res.code != cli.ExitClient {
		t.Errorf("environment client id: exit %d, want %d", res.code, cli.ExitClient)
	}
	if res := h.run(t, context.Background(), h.args("--client-id", "cibaConformance")...); res.code != cli.ExitOK {
		t.Errorf("flag client id: exit %d, want 0\n%s", res.code, res.stderr)
	}
}

func TestExplicitEndpointsSkipDiscovery(t *testing.T) {
	h := newHarness(t, fakeop.Config{})
	res := h.run(t, context.Background(), h.args("--bc-authorize-url", h.op.BackchannelURL, "--token-url", h.op.TokenURL, "--jwks-url", h.op.Issuer+"/jwks")...)
	if res.code != cli.ExitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if n := len(h.op.Requests("/openid-configuration")); n != 0 {
		t.Errorf("%d discovery requests, want none", n)
	}
	// Without an issuer the ID token cannot be checked: only the explicit
	// opt-out makes such a run work.
	res = h.run(t, context.Background(), h.args("--issuer", "", "--bc-authorize-url", h.op.BackchannelURL, "--token-url", h.op.TokenURL)...)
	if res.code != cli.ExitUsage || !strings.Contains(res.stderr, "--issuer is needed") {
		t.Errorf("no issuer: exit %d, want %d\n%s", res.code, cli.ExitUsage, res.stderr)
	}
	res = h.run(t, context.Background(), h.args("--issuer", "", "--bc-authorize-url", h.op.BackchannelURL, "--token-url", h.op.TokenURL, "--insecure-skip-id-token-validation")...)
	if res.code != cli.ExitOK || !strings.Contains(res.stderr, "ID tokens are NOT checked") {
		t.Errorf("no issuer, validation skipped: exit %d\n%s", res.code, res.stderr)
	}
}

func TestTLSFailuresAreClientErrors(t *testing.T) {
	t.Run("untrusted OP certificate", func(t *testing.T) {
		h := newHarness(t, fakeop.Config{})
		other := newHarness(t, fakeop.Config{})
		res := h.run(t, context.Background(), h.args("--ca-file", other.files.CAFile, "--json")...)
		if res.code != cli.ExitUntrusted {
			t.Fatalf("exit %d, want %d\n%s", res.code, cli.ExitUntrusted, res.stderr)
		}
		assertOneJSON(t, res.stdout)
		if !strings.Contains(res.stdout, `"error":"untrusted_op"`) || !strings.Contains(res.stdout, "--ca-file") {
			t.Errorf("stdout %s", res.stdout)
		}
	})
	t.Run("client certificate from an unknown CA", func(t *testing.T) {
		h := newHarness(t, fakeop.Config{})
		other := newHarness(t, fakeop.Config{})
		res := h.run(t, context.Background(), h.args("--cert", other.files.P12)...)
		if res.code != cli.ExitClient {
			t.Fatalf("exit %d, want %d\n%s", res.code, cli.ExitClient, res.stderr)
		}
	})
	t.Run("insecure skip verify warns", func(t *testing.T) {
		h := newHarness(t, fakeop.Config{})
		other := newHarness(t, fakeop.Config{})
		res := h.run(t, context.Background(), h.args("--ca-file", other.files.CAFile, "--insecure-skip-verify")...)
		if res.code != cli.ExitOK || !strings.Contains(res.stderr, "--insecure-skip-verify") {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
	})
}

func TestInterruptAndTimeout(t *testing.T) {
	t.Run("interrupt", func(t *testing.T) {
		h := newHarness(t, fakeop.Config{Token: tokens(fakeop.Pending())})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h.sleep = func(ctx context.Context, d time.Duration) error {
			if len(h.op.Polls()) == 2 {
				cancel() // SIGINT while waiting
			}
			return h.clock.Sleep(ctx, d)
		}
		res := h.run(t, ctx, h.args("--json")...)
		if res.code != cli.ExitInterrupted || res.stdout != `{"error":"interrupted","error_description":"interrupted"}`+"\n" {
			t.Fatalf("exit %d stdout %q\n%s", res.code, res.stdout, res.stderr)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		h := newHarness(t, fakeop.Config{Token: tokens(fakeop.Pending())})
		h.sleep = func(ctx context.Context, d time.Duration) error {
			<-ctx.Done() // a wait that only --timeout ends
			return ctx.Err()
		}
		res := h.run(t, context.Background(), h.args("--json", "--timeout", "50ms")...)
		if res.code != cli.ExitExpired || res.stdout != `{"error":"timeout","error_description":"gave up: --timeout elapsed"}`+"\n" {
			t.Fatalf("exit %d stdout %q\n%s", res.code, res.stdout, res.stderr)
		}
	})
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), []string{"--help"}, nil, &stdout, &stderr, func(string) string { return "" })
	if code != cli.ExitOK {
		t.Fatalf("exit %d", code)
	}
	help := stdout.String()
	for _, want := range []string{
		"EXIT CODES", "--issuer URL", "[env CIBA_CLIENT_ISSUER]", "[env CIBA_CLIENT_REQUESTED_EXPIRY]", "CIBA_CLIENT_CERT_PASSWORD ",
		"[env CIBA_CLIENT_STATE_DIR]", "[env CIBA_CLIENT_INSECURE_SKIP_VERIFY]", "130", `(default "https://localhost:5001/master")`,
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestCountdownOnTerminal(t *testing.T) {
	h := newHarness(t, fakeop.Config{Token: tokens(fakeop.Pending(), fakeop.TokenReply("at-1"))})
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), cli.Env{
		Stdout: &stdout, Stderr: &stderr,
		Getenv: func(string) string { return "" },
		Now:    h.clock.Now, Sleep: h.clock.Sleep,
		IsTerminal: func(w io.Writer) bool { return w == &stderr },
	}, h.args())
	if code != cli.ExitOK || stdout.String() != "at-1\n" {
		t.Fatalf("exit %d stdout %q\n%s", code, stdout.String(), stderr.String())
	}
	out := stderr.String()
	if !strings.Contains(out, "\r⏳ 1:55 left · 1 poll(s) · every 5s · authorization_pending\x1b[K") {
		t.Errorf("no countdown on a terminal:\n%q", out)
	}
	if !strings.HasSuffix(out, "← access token (Bearer, expires in 300 s, scope openid profile, with id_token checked: sub user, ES256)\n") {
		t.Errorf("the countdown was not cleared before the last line:\n%q", out)
	}
}

// TestOneReferenceToARequest: the console line, every log line about the
// request and --trace name it by the reference the OP and the
// authentication device show, oauth.ReqRef (the first 8 hex digits of the
// SHA-256 of the auth_req_id), as req=<ref>; neither stdout nor stderr
// shows the auth_req_id, a piece of it, or another hash of it.
func TestOneReferenceToARequest(t *testing.T) {
	id := fakeop.DefaultAuthReqID
	sum := sha256.Sum256([]byte(id))
	ref := hex.EncodeToString(sum[:4])
	if got := oauth.ReqRef(id); got != ref {
		t.Fatalf("oauth.ReqRef = %q, want %q", got, ref)
	}
	req := oauth.LogAttrReq + "=" + ref
	tests := []struct {
		name string
		run  func(t *testing.T) result
		want int
		// logs are the events that must carry req=<ref>.
		logs []string
	}{
		{"poll", func(t *testing.T) result {
			h := newHarness(t, fakeop.Config{Token: tokens(fakeop.Pending(), fakeop.TokenReply("at-1"))})
			return h.run(t, context.Background(), h.args("--log-level", "debug", "--trace")...)
		}, cli.ExitOK, []string{"ciba.acknowledged", "ciba.poll", "ciba.token"}},
		{"push", func(t *testing.T) result {
			url := "https://127.0.0.1:" + freePort(t) + "/ciba/notify"
			var h *harness
			h = newHarness(t, fakeop.Config{Ack: func(r fakeop.Request) fakeop.Reply {
				go fakeop.Notify(url, h.op.CA.Pool, r.Form.Get(oauth.ParamClientNotificationToken), "application/json",
					[]byte(`{"auth_req_id":"`+id+`","error":"access_denied"}`))
				return fakeop.AckReply(id, 120, 5)
			}})
			writeNotifyCert(t, h)
			h.sleep = blockUntilDone
			return h.run(t, context.Background(), h.args("--delivery-mode", "push", "--notify-url", url, "--log-level", "debug", "--trace")...)
		}, cli.ExitDenied, []string{"ciba.acknowledged", "ciba.notification", "ciba.push_error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.run(t)
			if res.code != tt.want {
				t.Fatalf("exit %d, want %d\n%s", res.code, tt.want, res.stderr)
			}
			if !strings.Contains(res.stderr, "← auth_req_id "+req+", expires in 120 s") {
				t.Errorf("no console line with %s:\n%s", req, res.stderr)
			}
			for _, event := range tt.logs {
				if line := lineWith(res.stderr, "msg="+event+" "); !strings.Contains(line, " "+req) {
					t.Errorf("log event %s lacks %s: %q", event, req, line)
				}
			}
			if want := "<redacted, " + req + ">"; !strings.Contains(res.stderr, want) {
				t.Errorf("--trace lacks %q:\n%s", want, res.stderr)
			}
			old := hex.EncodeToString(sum[:6]) // the former 12-digit log hash
			for _, leak := range []string{id, id[:8], old} {
				if strings.Contains(res.stderr, leak) || strings.Contains(res.stdout, leak) {
					t.Errorf("the output shows %q:\n%s", leak, res.stderr)
				}
			}
		})
	}
}

// TestShowSecretsShowsTheAuthReqID: --show-secrets, asked for explicitly,
// lets --trace print the auth_req_id itself; the console line keeps the
// reference.
func TestShowSecretsShowsTheAuthReqID(t *testing.T) {
	h := newHarness(t, fakeop.Config{})
	res := h.run(t, context.Background(), h.args("--trace", "--show-secrets")...)
	if res.code != cli.ExitOK {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "auth_req_id="+fakeop.DefaultAuthReqID) {
		t.Errorf("--show-secrets hides the auth_req_id:\n%s", res.stderr)
	}
	if !strings.Contains(res.stderr, "← auth_req_id "+oauth.LogAttrReq+"="+oauth.ReqRef(fakeop.DefaultAuthReqID)) {
		t.Errorf("the console line lost the reference:\n%s", res.stderr)
	}
}

// blockUntilDone is a Sleep that only the context ends.
func blockUntilDone(ctx context.Context, _ time.Duration) error {
	<-ctx.Done()
	return ctx.Err()
}

// lineWith returns the first line of s that contains sub, or "".
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
