package oprun

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyz fetches the metrics listener's /readyz.
func readyz(t *testing.T, s *Server) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + s.MetricsAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadyzFollowsNATS: /readyz answers 200 while the HTTPS listener, the
// NATS connection and the store are ready, and 503 naming NATS once the
// NATS server is gone.
func TestReadyzFollowsNATS(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	s, err := Start(Config{StateDir: filepath.Join(t.TempDir(), "state"), Addr: "127.0.0.1:0", NATSURL: ns.ClientURL(),
		MetricsAddr: "127.0.0.1:0", PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if status, body := readyz(t, s); status != http.StatusOK || body != "https: ok\nnats: ok\nstore: ok\n" {
		t.Fatalf("/readyz: %d %q", status, body)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := readyz(t, s)
		if status == http.StatusServiceUnavailable && strings.Contains(body, "nats: the NATS connection is") && strings.Contains(body, "https: ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz with NATS gone: %d %q", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMetricsAddrMustBeLoopback: Start refuses a non-loopback metrics
// address unless MetricsAllowRemote, before touching the state directory.
func TestMetricsAddrMustBeLoopback(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	_, err := Start(Config{StateDir: dir, Addr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0", MetricsAddr: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("Start: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the state directory was touched: %v", err)
	}
}
