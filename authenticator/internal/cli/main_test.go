package cli

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/authenticator/device"
	"github.com/cibalab/cibalab/shared/channel"
)

func TestAutoOnce(t *testing.T) {
	tests := []struct {
		verdict, result string
	}{
		{channel.VerdictApprove, "✔ approved: the OP accepted the decision"},
		{channel.VerdictDeny, "✘ denied: the OP accepted the decision"},
	}
	for _, tt := range tests {
		t.Run(tt.verdict, func(t *testing.T) {
			op := startOP(t)
			before := time.Now().Truncate(time.Second)
			p := start(t, strings.NewReader(""), envFor(t, op), "--auto", tt.verdict, "--once")
			p.ready(t, "user")
			req := op.NewRequest("user", "Message")
			op.Announce(t, req)
			if code := p.wait(t); code != ExitOK {
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, p.stderr)
			}
			after := time.Now()
			ds := op.Decisions()
			if len(ds) != 1 {
				t.Fatalf("%d decisions, want 1", len(ds))
			}
			c := ds[0].Claims
			if c.Verdict != tt.verdict || c.AuthReqID != req.AuthReqID || c.DeviceID != ds[0].DeviceID || ds[0].User != "user" || c.ACR != "" {
				t.Errorf("claims %+v, device %s", c, ds[0].DeviceID)
			}
			if jti, err := base64.RawURLEncoding.DecodeString(c.ID); err != nil || len(jti) != 16 {
				t.Errorf("jti %q is not 128 bits of base64url", c.ID)
			}
			if c.IssuedAt.Before(before) || c.IssuedAt.After(after) || c.ExpiresAt.Sub(c.IssuedAt.Time) != device.DefaultDecisionLifetime {
				t.Errorf("iat %v exp %v, want iat in [%v, %v], exp DefaultDecisionLifetime later", c.IssuedAt, c.ExpiresAt, before, after)
			}
			if strings.Join(c.AMR, " ") != "swk" {
				t.Errorf("amr %v, want [swk]", c.AMR)
			}
			out := p.stdout.String()
			for _, want := range []string{"│ client   cibaConformance\n", "│ message  \"Message\"\n", "└ auto " + tt.verdict + "\n", tt.result} {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	op := startOP(t)
	e := envFor(t, op)
	e[EnvPassword] = "guess"
	p := start(t, strings.NewReader(""), e, "--auto", "approve")
	if code := p.wait(t); code != ExitNotAccepted {
		t.Fatalf("exit %d, want 5", code)
	}
	if got, want := p.stderr.String(), "ciba-authenticator: enrollment refused: bad credentials\n"; got != want {
		t.Fatalf("stderr %q, want %q", got, want)
	}
	if p.stdout.String() != "" {
		t.Fatalf("stdout %q, want nothing", p.stdout)
	}
}

// TestLockedOut: when the OP refuses enrollment because of too many wrong
// passwords, the one-line message says so.
func TestLockedOut(t *testing.T) {
	op := startOP(t)
	op.LockOut()
	e := envFor(t, op)
	p := start(t, strings.NewReader(""), e, "--auto", "approve")
	if code := p.wait(t); code != ExitNotAccepted {
		t.Fatalf("exit %d, want 5", code)
	}
	if got, want := p.stderr.String(), "ciba-authenticator: enrollment refused: bad credentials (too many attempts; try again later)\n"; got != want {
		t.Fatalf("stderr %q, want %q", got, want)
	}
}

func TestPendingBeforeStartThenInterrupted(t *testing.T) {
	op := startOP(t)
	first := op.NewRequest("user", "first")
	second := op.NewRequest("user", "second")
	op.NewRequest("alice", "not user's")
	p := start(t, strings.NewReader(""), envFor(t, op), "--auto", "approve")
	for _, want := range []channel.AuthRequest{first, second} {
		if got := op.WaitDecision(t); got.Claims.AuthReqID != want.AuthReqID {
			t.Fatalf("decided %q, want %q", got.Claims.AuthReqID, want.BindingMessage)
		}
	}
	out := p.stdout.String()
	if i, j := strings.Index(out, `"first"`), strings.Index(out, `"second"`); i < 0 || j < i {
		t.Fatalf("cards not shown in order:\n%s", out)
	}
	if strings.Contains(out, "not user's") {
		t.Fatalf("another user's request shown:\n%s", out)
	}
	p.cancel()
	if code := p.wait(t); code != ExitInterrupted {
		t.Fatalf("exit %d, want 130", code)
	}
}

func TestGarbageIgnored(t *testing.T) {
	op := startOP(t)
	p := start(t, strings.NewReader(""), envFor(t, op), "--auto", "approve", "--once")
	p.ready(t, "user")
	foreign, _ := json.Marshal(op.NewRequest("alice", "alice's"))
	v2 := op.NewRequest("user", "v2")
	v2.Version = 2
	wrongVersion, _ := json.Marshal(v2)
	for _, g := range [][]byte{[]byte("garbage"), []byte(`{"v":1}`), foreign, wrongVersion} {
		op.PublishRaw(t, "user", g)
	}
	valid := op.NewRequest("user", "valid")
	op.Announce(t, valid)
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	ds := op.Decisions()
	if len(ds) != 1 || ds[0].Claims.AuthReqID != valid.AuthReqID {
		t.Fatalf("decisions %+v, want only the valid request", ds)
	}
	if n := strings.Count(p.stderr.String(), "msg=device.message_dropped"); n != 4 {
		t.Fatalf("%d warnings, want 4:\n%s", n, p.stderr)
	}
}

func TestRefusedOnce(t *testing.T) {
	op := startOP(t)
	op.RefuseDecisions(channel.ErrNotPending, "already decided")
	op.NewRequest("user", "late")
	p := start(t, strings.NewReader(""), envFor(t, op), "--auto", "approve", "--once")
	if code := p.wait(t); code != ExitRefused {
		t.Fatalf("exit %d, want 6; stderr:\n%s", code, p.stderr)
	}
	if want := "  ! too late: this request was already decided, redeemed or expired\n"; !strings.Contains(p.stdout.String(), want) {
		t.Fatalf("stdout lacks %q:\n%s", want, p.stdout)
	}
}

func TestInteractive(t *testing.T) {
	tests := []struct {
		name    string
		answers []string // each written after the previous prompt
		verdict string
	}{
		{"y", []string{"y"}, channel.VerdictApprove},
		{"approve", []string{"  Approve "}, channel.VerdictApprove},
		{"n", []string{"n"}, channel.VerdictDeny},
		{"deny after nonsense", []string{"maybe", "", "d"}, channel.VerdictDeny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := startOP(t)
			stdin, w := pipe(t)
			p := start(t, stdin, envFor(t, op), "--once")
			p.ready(t, "user")
			op.Announce(t, op.NewRequest("user", "Message"))
			p.stdout.waitFor(t, "└ approve? [y]es / [n]o\n", 1)
			for i, a := range tt.answers {
				if i > 0 {
					p.stdout.waitFor(t, "answer y or n", i)
				}
				write(t, w, a+"\n")
			}
			if code := p.wait(t); code != ExitOK {
				t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
			}
			ds := op.Decisions()
			if len(ds) != 1 || ds[0].Claims.Verdict != tt.verdict || strings.Join(ds[0].Claims.AMR, " ") != "swk" {
				t.Fatalf("decisions %+v, want one %s with amr [swk] (no PIN)", ds, tt.verdict)
			}
		})
	}
}

func TestEndOfInput(t *testing.T) {
	tests := []struct {
		name    string
		pending bool
	}{
		{"idle", false},
		{"request shown", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := startOP(t)
			if tt.pending {
				op.NewRequest("user", "unanswered")
			}
			stdin, w := pipe(t)
			p := start(t, stdin, envFor(t, op))
			p.ready(t, "user")
			if tt.pending {
				p.stdout.waitFor(t, `"unanswered"`, 1)
			}
			w.Close()
			if code := p.wait(t); code != ExitOK {
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, p.stderr)
			}
			if n := len(op.Decisions()); n != 0 {
				t.Fatalf("%d decisions at end of input", n)
			}
		})
	}
}

func TestJSONLines(t *testing.T) {
	op := startOP(t)
	req := op.NewRequest("user", "Message")
	p := start(t, strings.NewReader(""), envFor(t, op), "--json", "--auto", "approve", "--once")
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, p.stderr)
	}
	out := p.stdout.String()
	if strings.Contains(out, req.AuthReqID) {
		t.Fatalf("stdout holds the full auth_req_id:\n%s", out)
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		typ, _ := ev["type"].(string)
		types = append(types, typ)
		switch typ {
		case EventSignedIn:
			if ev["user"] != "user" || ev["realm"] != "master" || ev["nats_url"] != op.URL {
				t.Errorf("signed_in %v", ev)
			}
		case EventRequest:
			if ev["binding_message"] != "Message" || ev["client_id"] != "cibaConformance" || ev["req"] == "" {
				t.Errorf("request %v", ev)
			}
			if left, _ := ev["expires_in"].(float64); left < 100 || left > 120 {
				t.Errorf("expires_in %v", ev["expires_in"])
			}
		case EventDecisionSent, EventDecisionAccepted:
			if ev["verdict"] != "approve" {
				t.Errorf("%s %v", typ, ev)
			}
		}
	}
	want := []string{EventSignedIn, EventRequest, EventDecisionSent, EventDecisionAccepted}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Fatalf("types %v, want %v", types, want)
	}
}

func TestJSONRefused(t *testing.T) {
	op := startOP(t)
	op.RefuseDecisions(channel.ErrReplay, "")
	op.NewRequest("user", "x")
	p := start(t, strings.NewReader(""), envFor(t, op), "--json", "--auto", "deny", "--once")
	if code := p.wait(t); code != ExitRefused {
		t.Fatalf("exit %d, want 6", code)
	}
	lines := strings.Split(strings.TrimSpace(p.stdout.String()), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last["type"] != EventDecisionRefused || last["error"] != channel.ErrReplay || last["verdict"] != "deny" {
		t.Fatalf("last event %v", last)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no password", []string{"--auto", "approve", "--device-dir", t.TempDir() + "/d"}, nil, "no device enrolled in"},
		{"bad auto", []string{"--auto", "maybe"}, map[string]string{EnvPassword: "x"}, "--auto must be approve, deny or ignore"},
		{"bad rules", []string{"--rules", "/nonexistent/rules.json"}, map[string]string{EnvPassword: "x"}, "rules: "},
		{"hook beyond loopback", []string{"--approval-hook-listen", "0.0.0.0:0"}, map[string]string{EnvPassword: "x"}, "not a loopback address"},
		{"approve without ID", []string{"approve"}, nil, "approve needs the request"},
		{"argument", []string{"extra"}, map[string]string{EnvPassword: "x"}, `unexpected argument "extra"`},
		{"unknown flag", []string{"--password", "x"}, nil, "flag provided but not defined"},
		{"bad env delay", nil, map[string]string{EnvPassword: "x", "CIBA_AUTH_DELAY": "soon"}, "invalid $CIBA_AUTH_DELAY"},
		{"bad log level", []string{"--log-level", "loud"}, map[string]string{EnvPassword: "x"}, "--log-level"},
		{"bad realm", []string{"--realm", "a.b"}, map[string]string{EnvPassword: "x"}, "--realm"},
		{"missing password file", []string{"--password-file", "/nonexistent/pw", "--device-dir", t.TempDir() + "/d"}, nil, "password file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, strings.NewReader(""), tt.env, tt.args...)
			if code := p.wait(t); code != ExitUsage {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, p.stderr)
			}
			if !strings.Contains(p.stderr.String(), tt.want) {
				t.Fatalf("stderr lacks %q:\n%s", tt.want, p.stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	p := start(t, strings.NewReader(""), nil, "--help")
	if code := p.wait(t); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	out := p.stdout.String()
	for _, want := range []string{"EXIT CODES", "130", "--nats-url URL", "[env CIBA_AUTH_NATS_URL]", "[env CIBA_AUTH_PASSWORD_FILE]", EnvPassword, EnvPIN, "--device-dir", "--rules", "--approval-hook-listen", "enroll", "RULES\n  --rules FILE"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	op := startOP(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("wonderland\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		user string
	}{
		{"env user and password", nil, map[string]string{"CIBA_AUTH_USER": "alice", EnvPassword: "wonderland"}, "alice"},
		{"flag beats env", []string{"--user", "alice"}, map[string]string{"CIBA_AUTH_USER": "bob", EnvPassword: "wonderland"}, "alice"},
		{"password file beats env password", []string{"--user", "alice", "--password-file", pwFile}, map[string]string{EnvPassword: "wrong"}, "alice"},
		{"password file from env", []string{"--user", "alice"}, map[string]string{"CIBA_AUTH_PASSWORD_FILE": pwFile}, "alice"},
		{"flag URL beats env", []string{"--nats-url", op.URL}, map[string]string{"CIBA_AUTH_NATS_URL": closedURL(t), EnvPassword: "secret"}, "user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{"CIBA_AUTH_NATS_URL": op.URL}
			for k, v := range tt.env {
				e[k] = v
			}
			p := start(t, strings.NewReader(""), e, append(tt.args, "--auto", "approve")...)
			p.ready(t, tt.user)
		})
	}
}

// closedURL is a NATS URL on a loopback port nothing listens on.
func closedURL(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "nats://" + addr
}

func TestNoNATS(t *testing.T) {
	p := start(t, strings.NewReader(""), map[string]string{EnvPassword: "x"}, "--nats-url", closedURL(t), "--auto", "approve")
	if code := p.wait(t); code != ExitUnexpected {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(p.stderr.String(), "connect to NATS") {
		t.Fatalf("stderr:\n%s", p.stderr)
	}
}
