package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cibalab/cibalab/shared/pki"
)

func TestServeUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--interval", "500ms"},
		{"--interval", "-1s"},
		{"--long-poll", "26s"},
		{"--long-poll", "-1s"},
		{"--min-expiry", "10s", "--default-expiry", "5s"},
		{"--realm", "a.b"},
		{"--log-level", "loud"},
		{"--max-token-concurrency", "0"},
		{"--device-decision-rate", "0"},
		{"--device-decision-rate", "x"},
		{"--metrics-addr", "0.0.0.0:9090"},
		{"--metrics-addr", ":9090"},
		{"--metrics-addr", "localhost"},
		{"--public-host", "https://lb.example/master"},
		{"--public-host", "lb.example:0"},
		{"extra"},
	} {
		var stderr bytes.Buffer
		code := Main(context.Background(), append([]string{"serve", "--state-dir", t.TempDir()}, args...), Env{Stdout: &bytes.Buffer{}, Stderr: &stderr})
		if code != 2 || !strings.Contains(stderr.String(), "ciba-op serve:") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}

// serving is a "ciba-op serve" running in this process.
type serving struct {
	info           ReadyInfo
	stdout, stderr *bytes.Buffer
	cancel         context.CancelFunc
	done           chan int
}

// startServe runs "ciba-op serve" on random loopback ports with the state
// directory dir (and the extra flags), waits until it is ready, and stops
// it at the end of the test.
func startServe(t *testing.T, dir string, extra ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, cancel: cancel, done: make(chan int, 1)}
	ready := make(chan ReadyInfo, 1)
	args := append([]string{"serve", "--state-dir", dir, "--addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0"}, extra...)
	go func() {
		s.done <- Main(ctx, args, Env{Stdout: s.stdout, Stderr: s.stderr, Getenv: func(k string) string {
			if k == envPasswordIterations {
				return "1000"
			}
			return ""
		}, Ready: func(r ReadyInfo) { ready <- r }})
	}()
	t.Cleanup(cancel)
	select {
	case s.info = <-ready:
	case code := <-s.done:
		t.Fatalf("serve exited %d: %s", code, s.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve not ready after 30 s")
	}
	return s
}

// stop cancels serve and returns its exit code.
func (s *serving) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		return code
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop within 15 s of cancellation")
		return 0
	}
}

// TestServeInProcess starts serve on random ports, checks discovery and
// NATS through the reported addresses, and stops it with the context.
func TestServeInProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	srv := startServe(t, dir, "--realm", "lab")
	info, stdout := srv.info, srv.stdout
	if !strings.HasPrefix(info.Issuer, "https://127.0.0.1:") || !strings.HasSuffix(info.Issuer, "/lab") {
		t.Fatalf("issuer %q", info.Issuer)
	}
	pool, err := pki.CertPoolFromPEMFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(info.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("discovery status %d", resp.StatusCode)
	}
	nc, err := nats.Connect(info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if !strings.Contains(stdout.String(), "ciba-op ready issuer="+info.Issuer) || !strings.Contains(stdout.String(), "ciba-client --issuer "+info.Issuer) {
		t.Fatalf("stdout lacks the ready line or the next command:\n%s", stdout.String())
	}
	if code := srv.stop(t); code != exitInterrupted {
		t.Fatalf("exit %d after cancel: %s", code, srv.stderr.String())
	}
}
