package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/cliconv"
)

// exitCase is one documented exit code of one program, provoked the way a
// user would.
type exitCase struct {
	program string
	code    int
	what    string
	// run provokes the case and returns the exit code, stdout and stderr.
	run func(t *testing.T) (int, string, string)
	// oneJSON: stdout must be exactly one JSON document (--json was given).
	oneJSON bool
}

// runProgram runs a program to its end, within a minute.
func runProgram(t *testing.T, env []string, name string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(name), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within a minute:\n%s", name, strings.Join(args, " "), stderr.String())
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// interrupt starts a program, waits until it prints a line matching ready
// on stderr (or stdout for ciba-op serve), sends SIGINT and returns how it
// ended.
func interrupt(t *testing.T, env []string, ready *regexp.Regexp, onStdout bool, name string, args ...string) (int, string, string) {
	t.Helper()
	p := start(t, env, name, args...)
	out := p.stderr
	if onStdout {
		out = p.stdout
	}
	p.waitFor(t, out, ready)
	p.cmd.Process.Signal(syscall.SIGINT)
	return p.exitCode(t, 20*time.Second), p.stdout.String(), p.stderr.String()
}

// TestExitCodes provokes every exit code docs/cli.md documents, for each
// program, and checks the code, a one-line message without package
// prefixes, and with --json exactly one JSON document on stdout.
func TestExitCodes(t *testing.T) {
	o := startOP(t)
	pw := []string{"CIBA_OP_USER_PASSWORD=password"}
	o.admin(t, pw, "user", "add", "--id", "dana")
	o.admin(t, pw, "user", "add", "--id", "ivy") // no device: her requests stay pending
	o.authenticator(t, "user", "password", "--auto", "approve")
	o.authenticator(t, "dana", "password", "--auto", "deny")
	otherState := filepath.Join(t.TempDir(), "other")
	if code, _, stderr := runProgram(t, []string{"CIBA_OP_PASSWORD_ITERATIONS=1000"}, "ciba-op", "init", "--state-dir", otherState); code != 0 {
		t.Fatalf("init: %d %s", code, stderr)
	}
	client := func(args ...string) func(t *testing.T) (int, string, string) {
		return func(t *testing.T) (int, string, string) {
			r := o.client(t, args...)
			return r.code, r.stdout, r.stderr
		}
	}
	// Devices of "user" for the authenticator's one-shot commands: one
	// without a PIN, one with.
	tmp := t.TempDir()
	plain, withPIN := filepath.Join(tmp, "plain"), filepath.Join(tmp, "pin")
	pinFile := filepath.Join(tmp, "pin.txt")
	if err := os.WriteFile(pinFile, []byte("4321\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	authEnv := []string{"CIBA_AUTH_PASSWORD=password"}
	for _, enroll := range [][]string{
		{"enroll", "--nats-url", o.natsURL, "--user", "user", "--device-dir", plain},
		{"enroll", "--nats-url", o.natsURL, "--user", "user", "--device-dir", withPIN, "--pin-file", pinFile},
	} {
		if code, _, stderr := runProgram(t, authEnv, "ciba-authenticator", enroll...); code != 0 {
			t.Fatalf("%v: exit %d: %s", enroll, code, stderr)
		}
	}
	forged := forgedDevice(t, o, tmp)
	auth := func(env []string, args ...string) func(t *testing.T) (int, string, string) {
		return func(t *testing.T) (int, string, string) {
			return runProgram(t, env, "ciba-authenticator", args...)
		}
	}
	opState := []string{"--state-dir", o.stateDir}

	cases := []exitCase{
		{program: cliconv.OP, code: 0, what: "client list", run: func(t *testing.T) (int, string, string) {
			return runProgram(t, nil, "ciba-op", append([]string{"client", "list"}, opState...)...)
		}},
		{program: cliconv.OP, code: 1, what: "a client id that exists", run: func(t *testing.T) (int, string, string) {
			return runProgram(t, nil, "ciba-op", append([]string{"client", "add", "--id", "cibaConformance"}, opState...)...)
		}},
		{program: cliconv.OP, code: 2, what: "a malformed --addr", run: func(t *testing.T) (int, string, string) {
			return runProgram(t, nil, "ciba-op", "serve", "--addr", "nonsense", "--state-dir", filepath.Join(t.TempDir(), "s"))
		}},
		{program: cliconv.OP, code: 130, what: "serve stopped by SIGINT", run: func(t *testing.T) (int, string, string) {
			return interrupt(t, []string{"CIBA_OP_PASSWORD_ITERATIONS=1000"}, readyRE, true, "ciba-op", "serve",
				"--state-dir", filepath.Join(t.TempDir(), "s"), "--addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0")
		}},

		{program: cliconv.Client, code: 0, what: "approved", oneJSON: true, run: client("--login-hint", "user")},
		{program: cliconv.Client, code: 1, what: "OP unreachable", oneJSON: true, run: client("--issuer", "https://127.0.0.1:1/master")},
		{program: cliconv.Client, code: 2, what: "a malformed --issuer", oneJSON: true, run: client("--issuer", "127.0.0.1:5001/master")},
		{program: cliconv.Client, code: 2, what: "a PEM file given to --cert", oneJSON: true, run: client("--cert", filepath.Join(o.stateDir, "ca.pem"))},
		{program: cliconv.Client, code: 3, what: "denied", oneJSON: true, run: client("--login-hint", "dana")},
		{program: cliconv.Client, code: 4, what: "expired", oneJSON: true, run: client("--login-hint", "ivy", "--requested-expiry", "1")},
		{program: cliconv.Client, code: 5, what: "unknown client (invalid_client)", oneJSON: true, run: client("--client-id", "nobody")},
		{program: cliconv.Client, code: 6, what: "unknown user (unknown_user_id)", oneJSON: true, run: client("--login-hint", "nobody")},
		{program: cliconv.Client, code: 7, what: "the OP's certificate from another CA", oneJSON: true, run: client("--ca-file", filepath.Join(otherState, "ca.pem"))},
		{program: cliconv.Client, code: 130, what: "SIGINT while polling", oneJSON: true, run: func(t *testing.T) (int, string, string) {
			return interrupt(t, nil, regexp.MustCompile(`polling POST`), false, "ciba-client",
				"--issuer", o.issuer, "--ca-file", filepath.Join(o.stateDir, "ca.pem"), "--state-dir", o.stateDir,
				"--login-hint", "ivy", "--json")
		}},

		{program: cliconv.Authenticator, code: 0, what: "list", oneJSON: true, run: auth(nil, "list", "--json", "--nats-url", o.natsURL, "--device-dir", plain)},
		{program: cliconv.Authenticator, code: 1, what: "NATS unreachable", oneJSON: true, run: auth(authEnv, "list", "--json", "--nats-url", "nats://127.0.0.1:1", "--device-dir", filepath.Join(tmp, "fresh"))},
		{program: cliconv.Authenticator, code: 2, what: "a bad --auto", oneJSON: true, run: auth(nil, "--json", "--auto", "maybe")},
		{program: cliconv.Authenticator, code: 4, what: "approve a request that is not pending", oneJSON: true, run: auth(nil, "approve", "zzzz", "--json", "--nats-url", o.natsURL, "--device-dir", plain)},
		{program: cliconv.Authenticator, code: 5, what: "enroll with a wrong password", oneJSON: true, run: auth([]string{"CIBA_AUTH_PASSWORD=wrong"}, "enroll", "--json", "--nats-url", o.natsURL, "--user", "user", "--device-dir", filepath.Join(tmp, "wrong"))},
		{program: cliconv.Authenticator, code: 6, what: "the OP refuses a decision signed with another device's key", oneJSON: true, run: func(t *testing.T) (int, string, string) {
			c := start(t, nil, "ciba-client", "--issuer", o.issuer, "--ca-file", filepath.Join(o.stateDir, "ca.pem"), "--state-dir", o.stateDir, "--login-hint", "rita")
			ref := c.waitFor(t, c.stderr, regexp.MustCompile(`auth_req_id req=([^,\s]+),`))[1]
			return runProgram(t, nil, "ciba-authenticator", "deny", ref, "--json", "--nats-url", o.natsURL, "--device-dir", forged)
		}},
		{program: cliconv.Authenticator, code: 8, what: "approve with a wrong PIN", oneJSON: true, run: auth([]string{"CIBA_AUTH_PIN=9999"}, "approve", "zzzz", "--json", "--nats-url", o.natsURL, "--device-dir", withPIN)},
		{program: cliconv.Authenticator, code: 130, what: "SIGINT while waiting for requests", run: func(t *testing.T) (int, string, string) {
			return interrupt(t, nil, regexp.MustCompile(`signed in as`), false, "ciba-authenticator", "--nats-url", o.natsURL, "--device-dir", plain, "--auto", "ignore")
		}},
	}

	// Every documented code of every program has a case.
	have := map[string]bool{}
	for _, c := range cases {
		have[fmt.Sprintf("%s %d", c.program, c.code)] = true
	}
	for _, row := range cliconv.Table() {
		for program := range row.Programs {
			key := fmt.Sprintf("%s %d", program, row.Code)
			if !have[key] {
				t.Errorf("docs/cli.md documents exit code %d of %s, but no case here provokes it", row.Code, program)
			}
		}
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d/%s", c.program, c.code, c.what), func(t *testing.T) {
			code, stdout, stderr := c.run(t)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout, stderr)
			}
			if c.code != 0 {
				for _, prefix := range []string{"registry: ", "state: ", "pki: ", "x509: "} {
					if strings.Contains(stderr, prefix) {
						t.Errorf("stderr carries the package prefix %q:\n%s", prefix, stderr)
					}
				}
			}
			if c.oneJSON {
				dec := json.NewDecoder(strings.NewReader(stdout))
				var doc map[string]any
				if err := dec.Decode(&doc); err != nil {
					t.Fatalf("stdout is not a JSON document: %v\n%s", err, stdout)
				}
				if dec.More() {
					t.Fatalf("stdout holds more than one JSON document:\n%s", stdout)
				}
			}
		})
	}
}

// forgedDevice enrolls two devices of the user "rita" and returns the
// directory of the first, holding the second's decision key: it signs in
// as the first device, but the OP refuses its signatures (bad_signature).
func forgedDevice(t *testing.T, o *op, tmp string) string {
	t.Helper()
	o.admin(t, []string{"CIBA_OP_USER_PASSWORD=password"}, "user", "add", "--id", "rita")
	a, b := filepath.Join(tmp, "rita-a"), filepath.Join(tmp, "rita-b")
	for _, dir := range []string{a, b} {
		if code, _, stderr := runProgram(t, []string{"CIBA_AUTH_PASSWORD=password"}, "ciba-authenticator",
			"enroll", "--nats-url", o.natsURL, "--user", "rita", "--device-dir", dir); code != 0 {
			t.Fatalf("enroll %s: exit %d: %s", dir, code, stderr)
		}
	}
	key, err := os.ReadFile(filepath.Join(b, "device-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	var metaA, metaB map[string]any
	for dir, meta := range map[string]*map[string]any{a: &metaA, b: &metaB} {
		data, err := os.ReadFile(filepath.Join(dir, "device.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, meta); err != nil {
			t.Fatal(err)
		}
	}
	metaA["key_id"] = metaB["key_id"]
	data, err := json.Marshal(metaA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, "device.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, "device-key.pem"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}
