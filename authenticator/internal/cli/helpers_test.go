package cli

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/authenticator/internal/fakeop"
)

const waitLimit = 10 * time.Second

// stream is an output a test can wait on.
type stream struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newStream() *stream { return &stream{changed: make(chan struct{})} }

func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.changed)
	s.changed = make(chan struct{})
	return s.buf.Write(p)
}

func (s *stream) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor returns once the stream holds want n times.
func (s *stream) waitFor(tb testing.TB, want string, n int) {
	tb.Helper()
	deadline := time.After(waitLimit)
	for {
		s.mu.Lock()
		got, ch := strings.Count(s.buf.String(), want), s.changed
		s.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("no %q (x%d) within %v; output:\n%s", want, n, waitLimit, s.String())
		}
	}
}

// proc is a Main running in a goroutine.
type proc struct {
	stdout, stderr *stream
	cancel         context.CancelFunc
	done           chan struct{}
	code           int
}

// start runs Main with args, stdin and env; it is interrupted and waited
// for at the end of the test.
func start(tb testing.TB, stdin io.Reader, env map[string]string, args ...string) *proc {
	tb.Helper()
	return startTTY(tb, false, stdin, env, args...)
}

// startTTY is start with the terminal mode chosen: with tty set, the
// runner reads single keys and draws a countdown, as on a terminal.
func startTTY(tb testing.TB, tty bool, stdin io.Reader, env map[string]string, args ...string) *proc {
	tb.Helper()
	// Never the default ./.cibalab-device: every run gets a directory of
	// its own unless the test chose one.
	if env["CIBA_AUTH_DEVICE_DIR"] == "" {
		e := map[string]string{"CIBA_AUTH_DEVICE_DIR": filepath.Join(tb.TempDir(), "device")}
		for k, v := range env {
			e[k] = v
		}
		env = e
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{stdout: newStream(), stderr: newStream(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.code = run(ctx, args, stdin, p.stdout, p.stderr, func(k string) string { return env[k] }, &tty)
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(waitLimit):
			tb.Error("Main did not return after cancel")
		}
	})
	return p
}

// wait returns Main's exit code, failing the test when it does not exit.
func (p *proc) wait(tb testing.TB) int {
	tb.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(waitLimit):
		tb.Fatalf("Main still running; stdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		return -1
	}
}

// ready waits for the ready line.
func (p *proc) ready(tb testing.TB, user string) {
	tb.Helper()
	p.stderr.waitFor(tb, "ciba-authenticator: signed in as "+user+" on nats://", 1)
}

// pipe is a stdin the test writes to; it is closed at the end of the test.
func pipe(tb testing.TB) (io.Reader, *io.PipeWriter) {
	tb.Helper()
	r, w := io.Pipe()
	tb.Cleanup(func() { w.Close() })
	return r, w
}

func write(tb testing.TB, w io.Writer, s string) {
	tb.Helper()
	if _, err := io.WriteString(w, s); err != nil {
		tb.Fatal(err)
	}
}

var users = map[string]string{"user": "secret", "alice": "wonderland"}

func startOP(tb testing.TB) *fakeop.OP {
	tb.Helper()
	return fakeop.Start(tb, fakeop.Config{Users: users})
}

// envFor is the environment of a test run against op: its URL, the user's
// password (so the device enrolls on the fly) and a fresh device directory.
func envFor(tb testing.TB, op *fakeop.OP) map[string]string {
	tb.Helper()
	return map[string]string{"CIBA_AUTH_NATS_URL": op.URL, EnvPassword: "secret", "CIBA_AUTH_DEVICE_DIR": filepath.Join(tb.TempDir(), "device")}
}
