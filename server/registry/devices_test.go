package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/pki"
)

// testDevice is a device of user with fresh keys; the nkey is shaped like
// a NATS one (the state directory checks only its shape).
func testDevice(t testing.TB, user string) Device {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := pki.PublicJWK(&key.PublicKey, "kid", "ES256")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 55)
	rand.Read(b)
	nk := []byte("U")
	for _, c := range b {
		nk = append(nk, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[c%32])
	}
	return Device{User: user, Name: "phone", Key: jwk, NKey: string(nk)}
}

func TestEnrollListRevoke(t *testing.T) {
	clock := newClock()
	d := openDir(t, clock)
	a1, err := d.EnrollDevice(testDevice(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if channel.ValidDeviceID(a1.ID) != nil || !strings.HasPrefix(a1.ID, "dev-") || !a1.CreatedAt.Equal(clock.Now()) || a1.Revoked() {
		t.Fatalf("enrolled %+v", a1)
	}
	clock.Advance(time.Second)
	a2, err := d.EnrollDevice(testDevice(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	b1, err := d.EnrollDevice(testDevice(t, "bob"))
	if err != nil {
		t.Fatal(err)
	}
	if a1.ID == a2.ID || a1.ID == b1.ID {
		t.Fatal("device ids repeat")
	}
	devs, err := d.Devices()
	if err != nil || len(devs) != 3 || devs[0].ID != a1.ID || devs[1].ID != a2.ID || devs[2].ID != b1.ID {
		t.Fatalf("Devices = %+v, %v; want alice's two in order, then bob's", devs, err)
	}
	if fi, err := os.Stat(filepath.Join(d.Path(), devicesFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("devices.json: %v %v", fi.Mode(), err)
	}

	// Another process (ciba-op device revoke) revokes: seen at once.
	other := openPath(t, d.Path(), clock)
	clock.Advance(time.Second)
	rev, err := other.RevokeDevice(a1.ID)
	if err != nil || !rev.Revoked() || !rev.RevokedAt.Equal(clock.Now()) {
		t.Fatalf("RevokeDevice = %+v, %v", rev, err)
	}
	got, err := d.Device(a1.ID)
	if err != nil || !got.Revoked() {
		t.Fatalf("Device after revoke = %+v, %v", got, err)
	}
	clock.Advance(time.Second)
	again, err := d.RevokeDevice(a1.ID)
	if err != nil || !again.RevokedAt.Equal(*rev.RevokedAt) {
		t.Fatalf("second revoke = %+v, %v; want the first time kept", again, err)
	}
	if _, err := d.RevokeDevice("dev-nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	if _, err := d.Device("dev-nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
}

func TestEnrollAgain(t *testing.T) {
	d := openDir(t, nil)
	dev := testDevice(t, "alice")
	first, err := d.EnrollDevice(dev)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(*Device)
		want error // nil: the same device back
	}{
		{"same keys, same user", func(*Device) {}, nil},
		{"same keys, another user", func(x *Device) { x.User = "bob" }, ErrExists},
		{"same nkey, another key", func(x *Device) { x.Key = testDevice(t, "alice").Key }, ErrExists},
		{"same key, another nkey", func(x *Device) { x.NKey = testDevice(t, "alice").NKey }, ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := dev
			tt.mod(&x)
			got, err := d.EnrollDevice(x)
			if tt.want == nil {
				if err != nil || got.ID != first.ID {
					t.Fatalf("got %+v, %v; want device %s", got, err, first.ID)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := d.RevokeDevice(first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.EnrollDevice(dev); !errors.Is(err, ErrDeviceRevoked) {
		t.Fatalf("re-enrolling a revoked device: %v", err)
	}
	if devs, _ := d.Devices(); len(devs) != 1 {
		t.Fatalf("%d devices, want 1", len(devs))
	}
}

func TestEnrollRefusesBadInput(t *testing.T) {
	d := openDir(t, nil)
	tests := []struct {
		name string
		mod  func(*Device)
	}{
		{"bad user", func(x *Device) { x.User = "a b" }},
		{"long name", func(x *Device) { x.Name = strings.Repeat("x", 65) }},
		{"control in name", func(x *Device) { x.Name = "a\x1b[2J" }},
		{"short nkey", func(x *Device) { x.NKey = "UABC" }},
		{"account nkey", func(x *Device) { x.NKey = "A" + x.NKey[1:] }},
		{"lower-case nkey", func(x *Device) { x.NKey = strings.ToLower(x.NKey) }},
		{"no key", func(x *Device) { x.Key = pki.JWK{} }},
		{"off-curve key", func(x *Device) { x.Key.Y = x.Key.X }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := testDevice(t, "alice")
			tt.mod(&x)
			if _, err := d.EnrollDevice(x); err == nil || !strings.HasPrefix(err.Error(), "registry: ") {
				t.Fatalf("err = %v, want a refusal", err)
			}
		})
	}
	if devs, err := d.Devices(); err != nil || len(devs) != 0 {
		t.Fatalf("Devices = %v, %v", devs, err)
	}
}

func TestDevicesCorruptFile(t *testing.T) {
	d := openDir(t, nil)
	if err := os.WriteFile(filepath.Join(d.Path(), devicesFile), []byte(`{"devices":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Devices(); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("Devices on a corrupt file: %v", err)
	}
	if _, err := d.EnrollDevice(testDevice(t, "alice")); err == nil {
		t.Fatal("enrolled over a corrupt file")
	}
}

// TestDeviceRevokedByAnotherDir: devices are kept in memory, and a
// revocation by another process (another Dir on the same path) is seen at
// the next call, as is a new enrollment.
func TestDeviceRevokedByAnotherDir(t *testing.T) {
	reader := openDir(t, nil)
	writer := openPath(t, reader.Path(), nil)
	dev, err := writer.EnrollDevice(testDevice(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second read is served from memory
		got, err := reader.Device(dev.ID)
		if err != nil || got.Revoked() {
			t.Fatalf("Device before revocation: %+v, %v", got, err)
		}
	}
	if _, err := writer.RevokeDevice(dev.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := reader.Device(dev.ID); err != nil || !got.Revoked() {
		t.Fatalf("Device after another Dir revoked it: %+v, %v; want revoked at once", got, err)
	}
	other, err := writer.EnrollDevice(testDevice(t, "bob"))
	if err != nil {
		t.Fatal(err)
	}
	if devs, err := reader.Devices(); err != nil || len(devs) != 2 || devs[1].ID != other.ID {
		t.Fatalf("Devices after another Dir enrolled one: %+v, %v", devs, err)
	}
}
