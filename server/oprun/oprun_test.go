package oprun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNATSAddrMustBeLoopback: the embedded NATS server has no TLS, so
// Start refuses to listen beyond loopback unless told to, before it
// creates anything.
func TestNATSAddrMustBeLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:4222", "example.com:4222", "localhost.example.com:0", "no-port"} {
		t.Run(addr, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			s, err := Start(Config{StateDir: dir, Addr: "127.0.0.1:0", NATSAddr: addr})
			if err == nil {
				s.Close()
				t.Fatalf("Start listened for NATS on %s", addr)
			}
			if !strings.Contains(err.Error(), "not a loopback address") || !strings.Contains(err.Error(), "--insecure-nats-non-loopback") {
				t.Fatalf("error %q does not say why nor how to allow it", err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("the state directory was created: %v", err)
			}
		})
	}
}

func TestLoopback(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1:4222":      true,
		"127.1.2.3:0":         true,
		"[::1]:4222":          true,
		"localhost:4222":      true,
		"LOCALHOST:0":         true,
		":4222":               false,
		"0.0.0.0:4222":        false,
		"[::]:4222":           false,
		"10.0.0.1:4222":       false,
		"myhost:4222":         false,
		"127.0.0.1":           false,
		"[::ffff:10.0.0.1]:0": false,
	}
	for addr, want := range tests {
		if got := Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
