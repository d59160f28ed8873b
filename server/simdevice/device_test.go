package simdevice_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/oprun"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/simdevice"
)

func startOP(t *testing.T) *oprun.Server {
	t.Helper()
	s, err := oprun.Start(oprun.Config{StateDir: filepath.Join(t.TempDir(), "state"), Addr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0", PasswordIterations: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestDevice: a wrong password does not enroll; the right one does, the
// OP refuses a decision on an unknown request with its code, and a
// dropped device is offline until it connects again.
func TestDevice(t *testing.T) {
	op := startOP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := simdevice.Config{NATSURL: op.NATSURL, Realm: "master", User: registry.DefaultUser, Password: "wrong"}
	bad, err := simdevice.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Connect(ctx); err == nil || !strings.Contains(err.Error(), "bad_credentials") {
		t.Fatalf("enrollment with a wrong password: %v", err)
	}
	cfg.Password = registry.DefaultUserPassword
	d, err := simdevice.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer d.Drop()
	if d.ID() == "" || !d.Online() {
		t.Fatalf("id %q, online %v", d.ID(), d.Online())
	}
	var refused *simdevice.RefusedError
	if err := d.Decide(ctx, "no-such-request", true, nil); !errors.As(err, &refused) || refused.Code == "" {
		t.Fatalf("decision on an unknown request: %v", err)
	}
	d.Drop()
	if err := d.Decide(ctx, "x", true, nil); !errors.Is(err, simdevice.ErrOffline) {
		t.Fatalf("decision while offline: %v", err)
	}
	if err := d.Connect(ctx); err != nil || !d.Online() {
		t.Fatalf("reconnect: %v", err)
	}
}
