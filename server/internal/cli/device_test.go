package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/pki"
)

// enrollDevice enrolls a device of user in the state directory at path,
// as the OP does for ciba-authenticator enroll.
func enrollDevice(t testing.TB, path, user, name string) registry.Device {
	t.Helper()
	d, err := registry.Open(path, registry.Config{PasswordIterations: 2})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, err := pki.PublicJWK(&key.PublicKey, "kid-"+name, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	nk, _ := nkeys.CreateUser()
	pub, _ := nk.PublicKey()
	dev, err := d.EnrollDevice(registry.Device{User: user, Name: name, Key: jwk, NKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	return dev
}

func TestDeviceListRevoke(t *testing.T) {
	dir, env := newStateDir(t)
	if r := mustRun(t, env, "device", "list", "--json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("empty list: %q", r.stdout)
	}
	a := enrollDevice(t, dir, "alice", "phone")
	b := enrollDevice(t, dir, "bob", "tablet")

	r := mustRun(t, env, "device", "list")
	for _, want := range []string{"ID", "STATUS", a.ID, b.ID, "phone", "active", "tablet"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("device list lacks %q:\n%s", want, r.stdout)
		}
	}
	r = mustRun(t, env, "device", "list", "--user", "alice", "--json")
	var list []deviceInfo
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 || list[0].ID != a.ID || list[0].Status != "active" || list[0].KeyID != "kid-phone" {
		t.Fatalf("device list --user alice --json: %v %s", err, r.stdout)
	}

	if r := mustRun(t, env, "device", "revoke", a.ID); r.stdout != "revoked device "+a.ID+" of user alice\n" {
		t.Fatalf("revoke: %q", r.stdout)
	}
	mustRun(t, env, "device", "revoke", "--id", a.ID) // again: no error
	r = mustRun(t, env, "device", "list", "--json")
	list = nil
	json.Unmarshal([]byte(r.stdout), &list)
	if len(list) != 2 || list[0].Status != "revoked" || list[0].RevokedAt == nil || list[1].Status != "active" {
		t.Fatalf("after revoke: %s", r.stdout)
	}

	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"device", "revoke"}, exitUsage, "the device ID is required"},
		{[]string{"device", "revoke", "dev-nope"}, exitError, `no device "dev-nope"`},
		{[]string{"device", "frobnicate"}, exitUsage, "unknown subcommand"},
		{[]string{"device"}, exitUsage, "missing subcommand"},
	}
	for _, tt := range tests {
		r := runMain(t, env, "", tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("ciba-op %s: exit %d, stderr %q; want %d and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.code, tt.want)
		}
	}
	if r := mustRun(t, nil, "device", "--help"); !strings.Contains(r.stdout, "<list|revoke>") {
		t.Errorf("device --help: %s", r.stdout)
	}
	if r := mustRun(t, nil, "--help"); !strings.Contains(r.stdout, "device revoke") {
		t.Errorf("--help lacks device revoke")
	}
}

func TestPrintable(t *testing.T) {
	if got := printable("tab\x1b[2J\x7f é"); got != "tab?[2J? é" {
		t.Fatalf("printable = %q", got)
	}
}
