package oprun

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestStartFailureKinds: Start reports which part failed as a *StartError,
// closes what it had opened (the port is free again), and creates no state
// directory for the failures that are found before it.
func TestStartFailureKinds(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name  string
		cfg   Config
		kind  string
		inUse bool
	}{
		{"HTTPS address in use", Config{Addr: taken.Addr().String(), NATSAddr: "127.0.0.1:0"}, FailListen, true},
		{"NATS address in use", Config{Addr: "127.0.0.1:0", NATSAddr: taken.Addr().String()}, FailNATSListen, true},
		{"external NATS unreachable", Config{Addr: "127.0.0.1:0", NATSURL: "nats://" + closedAddr}, FailNATSConnect, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.StateDir = filepath.Join(t.TempDir(), "state")
			s, err := Start(tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("Start succeeded")
			}
			var se *StartError
			if !errors.As(err, &se) || se.Kind != tt.kind || se.InUse() != tt.inUse {
				t.Fatalf("error %#v (%v), want kind %s, in use %v", err, err, tt.kind, tt.inUse)
			}
			if _, err := os.Stat(tt.cfg.StateDir); !os.IsNotExist(err) {
				t.Fatalf("the state directory was created: %v", err)
			}
		})
	}

	t.Run("listeners are closed after a late failure", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "state")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		probe, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := probe.Addr().String()
		probe.Close()
		_, err = Start(Config{StateDir: file, Addr: addr, NATSAddr: "127.0.0.1:0"})
		var se *StartError
		if !errors.As(err, &se) || se.Kind != FailStateDir {
			t.Fatalf("error %v, want a state directory failure", err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("the HTTPS address is still held after the failure: %v", err)
		}
		ln.Close()
	})
}
