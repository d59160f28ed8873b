package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cibalab/cibalab/client/internal/cli"
	"github.com/cibalab/cibalab/client/internal/fakeop"
)

const p12Password = "correct horse"

// harness is a fake OP plus the files a user of ciba-client would have.
type harness struct {
	op       *fakeop.OP
	files    fakeop.Files
	dir      string
	passFile string
	env      map[string]string
	clock    *clock
	// sleep, when set, replaces the fake clock's Sleep.
	sleep func(ctx context.Context, d time.Duration) error
}

func newHarness(tb testing.TB, cfg fakeop.Config) *harness {
	tb.Helper()
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	cfg.Now = c.Now
	op := fakeop.New(tb, cfg)
	dir := tb.TempDir()
	h := &harness{op: op, files: op.WriteFiles(tb, dir, p12Password), dir: dir, env: map[string]string{}, clock: c}
	h.passFile = filepath.Join(dir, "p12.pass")
	if err := os.WriteFile(h.passFile, []byte(p12Password+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return h
}

// args are the flags every run needs to reach the fake OP.
func (h *harness) args(extra ...string) []string {
	return append([]string{
		"--issuer", h.op.Issuer,
		"--cert", h.files.P12,
		"--cert-password-file", h.passFile,
		"--ca-file", h.files.CAFile,
		"--state-dir", h.dir,
	}, extra...)
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs the command with a fake clock, so polls do not wait for real.
func (h *harness) run(tb testing.TB, ctx context.Context, args ...string) result {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	sleep := h.clock.Sleep
	if h.sleep != nil {
		sleep = h.sleep
	}
	code := cli.Run(ctx, cli.Env{
		Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return h.env[k] },
		Now:    h.clock.Now, Sleep: sleep,
	}, args)
	return result{code, stdout.String(), stderr.String()}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return nil
}

// tokens answers the token endpoint with replies in order, repeating the
// last one.
func tokens(replies ...fakeop.Reply) func(int, fakeop.Request) fakeop.Reply {
	return func(n int, _ fakeop.Request) fakeop.Reply {
		return replies[min(n, len(replies))-1]
	}
}
