package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the three programs, built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	code, err := runMain(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		code = 1
	}
	os.Exit(code)
}

func runMain(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "cibalab-e2e-bin")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"github.com/cibalab/cibalab/server/cmd/ciba-op", "github.com/cibalab/cibalab/client/cmd/ciba-client", "github.com/cibalab/cibalab/authenticator/cmd/ciba-authenticator")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return 1, fmt.Errorf("go build: %w", err)
	}
	binDir = dir
	return m.Run(), nil
}

func bin(name string) string { return filepath.Join(binDir, name) }

// syncBuffer is a bytes.Buffer safe for a process writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// process is a program started in the background, stopped at cleanup.
type process struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

func start(t *testing.T, env []string, name string, args ...string) *process {
	t.Helper()
	p := &process{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin(name), args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.Stdin = nil
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", name, p.stdout, name, p.stderr)
		}
	})
	return p
}

// waitFor waits until the process prints a line matching re on out, and
// returns the submatches.
func (p *process) waitFor(t *testing.T, out *syncBuffer, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before printing %q:\nstdout:\n%s\nstderr:\n%s", p.cmd.Path, p.err, re, p.stdout, p.stderr)
		case <-deadline:
			t.Fatalf("%s did not print %q within 30 s:\nstdout:\n%s\nstderr:\n%s", p.cmd.Path, re, p.stdout, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// exitCode waits for the process to end and returns its exit code.
func (p *process) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("%s still running after %s:\nstdout:\n%s\nstderr:\n%s", p.cmd.Path, within, p.stdout, p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// op is a running ciba-op serve.
type op struct {
	*process
	issuer, natsURL, stateDir string
}

var readyRE = regexp.MustCompile(`(?m)^ciba-op ready issuer=(\S+) nats=(\S+) state-dir=(\S+)$`)

// startOP starts ciba-op serve on random loopback ports with a fresh state
// directory and a 1 s polling interval.
func startOP(t *testing.T, extra ...string) *op {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"serve", "--state-dir", filepath.Join(dir, "state"), "--addr", "127.0.0.1:0",
		"--nats-addr", "127.0.0.1:0", "--interval", "1s"}, extra...)
	p := start(t, []string{"CIBA_OP_PASSWORD_ITERATIONS=1000"}, "ciba-op", args...)
	m := p.waitFor(t, p.stdout, readyRE)
	return &op{process: p, issuer: m[1], natsURL: m[2], stateDir: m[3]}
}

// admin runs a ciba-op subcommand on the OP's state directory.
func (o *op) admin(t *testing.T, env []string, args ...string) string {
	t.Helper()
	args = append(args, "--state-dir", o.stateDir)
	cmd := exec.Command(bin("ciba-op"), args...)
	cmd.Env = append(os.Environ(), append(env, "CIBA_OP_PASSWORD_ITERATIONS=1000")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ciba-op %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// authenticator starts ciba-authenticator for user, which enrolls a new
// device in a fresh directory with the password, and waits until it has
// signed in.
func (o *op) authenticator(t *testing.T, user, password string, args ...string) *process {
	t.Helper()
	args = append([]string{"--nats-url", o.natsURL, "--user", user, "--device-dir", filepath.Join(t.TempDir(), "device")}, args...)
	p := start(t, []string{"CIBA_AUTH_PASSWORD=" + password}, "ciba-authenticator", args...)
	p.waitFor(t, p.stderr, regexp.MustCompile(`signed in as `))
	return p
}

// clientResult is what a run of ciba-client showed.
type clientResult struct {
	code           int
	stdout, stderr string
}

// client runs ciba-client with the default client's credentials unless args
// override them.
func (o *op) client(t *testing.T, args ...string) clientResult {
	t.Helper()
	base := []string{
		"--issuer", o.issuer,
		"--ca-file", filepath.Join(o.stateDir, "ca.pem"),
		"--client-id", "cibaConformance",
		"--cert", filepath.Join(o.stateDir, "clients", "cibaConformance.p12"),
		"--cert-password-file", filepath.Join(o.stateDir, "clients", "cibaConformance.p12.pass"),
		"--scope", "openid profile",
		"--login-hint", "user",
		"--json",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin("ciba-client"), append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = nil
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ciba-client did not finish within 60 s:\n%s", stderr.String())
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return clientResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// lines reads the JSON Lines of an output.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
