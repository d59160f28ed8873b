package oprun

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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

// TestNATSCredentialsHidden: the OP's NATS user and password in NATSURL
// reach the server but neither Server.NATSURL (shown to operators and
// devices) nor a start-up error.
func TestNATSCredentialsHidden(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		Username: "op", Password: "s3cret-pw", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	addr := ns.Addr().String()
	s, err := Start(Config{StateDir: filepath.Join(t.TempDir(), "state"), Addr: "127.0.0.1:0", NATSURL: "nats://op:s3cret-pw@" + addr, Persist: true, PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.NATSURL != "nats://"+addr {
		t.Errorf("NATSURL = %q, want nats://%s", s.NATSURL, addr)
	}
	_, err = Start(Config{StateDir: filepath.Join(t.TempDir(), "state"), Addr: "127.0.0.1:0", NATSURL: "nats://op:wrong-pw@" + addr})
	if err == nil || strings.Contains(err.Error(), "wrong-pw") {
		t.Errorf("start with a wrong password: %v", err)
	}
}

// TestRegistryErrorHidesCredentials: a JetStream registry that cannot be
// opened (here: a server without JetStream) is reported with the NATS
// URLs but without the OP's password.
func TestRegistryErrorHidesCredentials(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, Username: "op", Password: "s3cret-pw", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	addr := ns.Addr().String()
	_, err = Start(Config{StateDir: filepath.Join(t.TempDir(), "state"), Addr: "127.0.0.1:0", NATSURL: "nats://op:s3cret-pw@" + addr,
		Registry: RegistryJetStream, RegistryKey: make([]byte, 32)})
	var se *StartError
	if !errors.As(err, &se) || se.Kind != FailNoJetStream {
		t.Fatalf("err = %v, want a FailNoJetStream StartError", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") || !strings.Contains(err.Error(), "nats://"+addr) {
		t.Fatalf("error %q: want the URL without the password", err)
	}
}
