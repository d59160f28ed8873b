package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/server/watch"
	"github.com/cibalab/cibalab/shared/channel"
)

// TestWatchFindsServe: serve keeps the operator's seed (0600) and its NATS
// URL in the state directory; watch, given only the state directory,
// connects with them, says so, writes an empty transcript and stops with
// exit code 130 when cancelled, like serve; the URL file goes when serve stops.
func TestWatchFindsServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	srv := startServe(t, dir)
	wantMode(t, filepath.Join(dir, "operator.nk"), 0o600)
	url, err := os.ReadFile(filepath.Join(dir, "nats.url"))
	if err != nil || strings.TrimSpace(string(url)) != srv.info.NATSURL {
		t.Fatalf("nats.url = %q, %v; want %s", url, err, srv.info.NATSURL)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuf
	record := filepath.Join(t.TempDir(), "flows.md")
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"watch", "--state-dir", dir, "--record", record}, Env{Stdout: &stdout, Stderr: &stderr})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "watching the flows of realm master at "+srv.info.NATSURL) {
		select {
		case code := <-done:
			t.Fatalf("watch exited %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch did not start: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitInterrupted {
			t.Fatalf("watch exit %d, want %d: %s", code, exitInterrupted, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop within 10 s of cancellation")
	}
	md, err := os.ReadFile(record)
	if err != nil || !strings.Contains(string(md), "No flow was seen.") {
		t.Fatalf("transcript %q, %v", md, err)
	}
	if stdout.String() != "" {
		t.Fatalf("watch printed %q with no flow", stdout.String())
	}
	if code := srv.stop(t); code != exitInterrupted {
		t.Fatalf("serve exit %d", code)
	}
	wantMissing(t, filepath.Join(dir, "nats.url"))
	wantMode(t, filepath.Join(dir, "operator.nk"), 0o600)
}

// TestWatchFailures: bad flags are usage errors (2); a state directory
// without the operator's seed, or with one others may read, is an error
// (1) saying what to do.
func TestWatchFailures(t *testing.T) {
	dir := t.TempDir()
	if r := runMain(t, nil, "", "watch", "--state-dir", dir, "--realm", "a.b"); r.code != 2 || !strings.Contains(r.stderr, "--realm") {
		t.Fatalf("bad realm: %+v", r)
	}
	if r := runMain(t, nil, "", "watch", "--state-dir", dir, "extra"); r.code != 2 {
		t.Fatalf("extra argument: %+v", r)
	}
	if r := runMain(t, nil, "", "watch", "--state-dir", dir, "--req", "a-whole-auth-req-id"); r.code != 2 || !strings.Contains(r.stderr, "8 hex digits") {
		t.Fatalf("--req with an auth_req_id: %+v", r)
	}
	r := runMain(t, nil, "", "watch", "--state-dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "start ciba-op serve") {
		t.Fatalf("no seed: %+v", r)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := kp.Seed()
	seed := writeFile(t, filepath.Join(dir, "operator.nk"), string(raw)+"\n")
	if err := os.Chmod(seed, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runMain(t, nil, "", "watch", "--state-dir", dir); r.code != 1 || !strings.Contains(r.stderr, "chmod 600") {
		t.Fatalf("world-readable seed: %+v", r)
	}
	if err := os.Chmod(seed, 0o600); err != nil {
		t.Fatal(err)
	}
	// Nobody listens there.
	r = runMain(t, nil, "", "watch", "--state-dir", dir, "--nats-url", "nats://127.0.0.1:1")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot connect to NATS at nats://127.0.0.1:1") {
		t.Fatalf("no server: %+v", r)
	}
}

func TestValidRef(t *testing.T) {
	for in, want := range map[string]bool{
		"1a2b3c4d":         true,
		"1A2B3C4D":         false,
		"1a2b3c4":          false,
		"zzzzzzzz":         false,
		"1a2b3c4d5e6f7a8b": false,
		"an-auth-req-id":   false,
	} {
		if got := validRef(in); got != want {
			t.Errorf("validRef(%q) = %v, want %v", in, got, want)
		}
	}
}

// syncBuf is a bytes.Buffer safe for a command writing while a test reads.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWatchSaysWhenEventsWereDropped: events the view could not keep up
// with are counted, and the count goes to stderr, so that a flow missing
// arrows is not taken for the whole.
func TestWatchSaysWhenEventsWereDropped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuf
	var dropped atomic.Int64
	dropped.Store(3)
	done := make(chan error, 1)
	go func() {
		done <- watchLoop(ctx, Env{Stdout: &stdout, Stderr: &stderr}, watchOptions{asJSON: true}, watch.Filter{}, make(chan channel.Event), &dropped)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "3 events dropped") {
		if time.Now().After(deadline) {
			t.Fatalf("stderr %q", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Count(stderr.String(), "dropped") != 1 {
		t.Fatalf("the count was reported more than once: %q", stderr.String())
	}
}
