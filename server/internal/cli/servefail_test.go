package cli

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeStartFailures: every way serve can fail to start prints one
// line naming what failed and what to change, exits 1 (2 for a malformed
// flag value), never panics, and leaves the state directory as it was.
func TestServeStartFailures(t *testing.T) {
	busy := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln.Addr().String()
	}
	closedPort := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	fresh := func(t *testing.T) string { return filepath.Join(t.TempDir(), "state") }
	existing := func(t *testing.T) string {
		dir := fresh(t)
		mustRun(t, map[string]string{envStateDir: dir}, "init")
		return dir
	}

	tests := []struct {
		name string
		// setup returns the state directory and the flags.
		setup func(t *testing.T) (string, []string)
		code  int
		want  []string // in the one line on stderr
	}{
		{"HTTPS address in use, fresh state directory", func(t *testing.T) (string, []string) {
			addr := busy(t)
			return fresh(t), []string{"--addr", addr}
		}, 1, []string{" is in use: stop the other ciba-op", "--addr"}},
		{"HTTPS address in use, existing state directory", func(t *testing.T) (string, []string) {
			return existing(t), []string{"--addr", busy(t)}
		}, 1, []string{" is in use: stop the other ciba-op", "--addr"}},
		{"NATS address in use", func(t *testing.T) (string, []string) {
			return fresh(t), []string{"--nats-addr", busy(t)}
		}, 1, []string{"NATS address 127.0.0.1:", "is in use", "--nats-addr"}},
		{"metrics address in use", func(t *testing.T) (string, []string) {
			return fresh(t), []string{"--metrics-addr", busy(t)}
		}, 1, []string{"metrics address 127.0.0.1:", "is in use", "--metrics-addr"}},
		{"HTTPS address not of this host", func(t *testing.T) (string, []string) {
			return fresh(t), []string{"--addr", "192.0.2.1:0"} // TEST-NET-1: assigned to no host
		}, 1, []string{"cannot listen on 192.0.2.1:0", "--addr"}},
		{"unreachable external NATS server", func(t *testing.T) (string, []string) {
			return fresh(t), []string{"--nats-url", "nats://" + closedPort(t)}
		}, 1, []string{"cannot reach the NATS server at nats://127.0.0.1:", "--nats-url"}},
		{"state directory is a file", func(t *testing.T) (string, []string) {
			p := filepath.Join(t.TempDir(), "state")
			if err := os.WriteFile(p, []byte("not a directory"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p, nil
		}, 1, []string{"cannot use the state directory", "--state-dir"}},
		{"state directory with a damaged signing key", func(t *testing.T) (string, []string) {
			dir := existing(t)
			if err := os.WriteFile(filepath.Join(dir, "keys", "rs256.pem"), []byte("garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
			return dir, nil
		}, 1, []string{"cannot use the state directory", "--state-dir"}},
		{"malformed --addr", func(t *testing.T) (string, []string) {
			return fresh(t), []string{"--addr", "nonsense"}
		}, 2, []string{`--addr "nonsense" is not HOST:PORT`}},
		{"malformed --nats-addr", func(t *testing.T) (string, []string) {
			return fresh(t), []string{"--nats-addr", "127.0.0.1:99999"}
		}, 2, []string{"--nats-addr", "from 0 to 65535"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, flags := tt.setup(t)
			before := snapshot(t, dir)
			args := append([]string{"serve", "--state-dir", dir, "--addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0"}, flags...)
			r := runServeBounded(t, args)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Fatalf("stderr shows a panic:\n%s", r.stderr)
			}
			msg := strings.TrimSuffix(r.stderr, "\n")
			if tt.code == 1 && strings.Contains(msg, "\n") {
				t.Fatalf("stderr has more than one line:\n%s", r.stderr)
			}
			if !strings.HasPrefix(msg, "ciba-op serve: ") {
				t.Fatalf("stderr %q does not start with the command", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("stderr %q lacks %q", msg, w)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("the state directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// TestSecondServe: a second serve on the same addresses and state
// directory as a running one fails with one line and changes nothing; the
// first keeps serving.
func TestSecondServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first := startServe(t, dir)
	info := first.info
	before := snapshot(t, dir)
	natsAddr := strings.TrimPrefix(info.NATSURL, "nats://")
	for _, flags := range [][]string{
		{"--addr", info.HTTPAddr, "--nats-addr", natsAddr},
		{"--addr", "127.0.0.1:0", "--nats-addr", natsAddr},
	} {
		r := runServeBounded(t, append([]string{"serve", "--state-dir", dir}, flags...))
		msg := strings.TrimSuffix(r.stderr, "\n")
		if r.code != 1 || strings.Contains(msg, "\n") || !strings.Contains(msg, " is in use") || strings.Contains(msg, "goroutine") {
			t.Fatalf("second serve %v: exit %d, stderr:\n%s", flags, r.code, r.stderr)
		}
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("the state directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	select {
	case code := <-first.done:
		t.Fatalf("the first serve stopped (exit %d): %s", code, first.stderr.String())
	default:
	}
	if code := first.stop(t); code != exitInterrupted {
		t.Fatalf("first serve exit %d", code)
	}
}

// runServeBounded runs Main, failing the test if it does not return within
// 20 s (a start-up failure must not hang).
func runServeBounded(t *testing.T, args []string) result {
	t.Helper()
	ch := make(chan result, 1)
	go func() { ch <- runMain(t, nil, "", args...) }()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatalf("ciba-op %s did not return within 20 s", strings.Join(args, " "))
		return result{}
	}
}

// snapshot describes every file under path (name, mode, size, modification
// time, content hash), or says it does not exist.
func snapshot(t *testing.T, path string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		content := ""
		if fi.Mode().IsRegular() {
			raw, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			content = fmt.Sprintf("%x", sha256.Sum256(raw))
		}
		fmt.Fprintf(&b, "%s %v %d %s %s\n", p, fi.Mode(), fi.Size(), fi.ModTime().Format(time.RFC3339Nano), content)
		return nil
	})
	if os.IsNotExist(err) {
		return "(does not exist)"
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
