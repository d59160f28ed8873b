package devicedir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cibalab/shared/channel"
)

// newDevice is an enrolled-looking device in a fresh directory.
func newDevice(t testing.TB) *Device {
	t.Helper()
	key, nk, err := NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	const realm, user, id = "master", "alice", "dev-abc"
	return &Device{Path: filepath.Join(t.TempDir(), "dev"), Key: key, NKey: nk, Meta: Meta{
		DeviceID: id, User: user, Realm: realm, NATSURL: "nats://127.0.0.1:4222", DeviceName: "phone",
		RequestsSubject: channel.UserRequestsSubject(realm, user),
		PendingSubject:  channel.DevicePendingSubject(realm, id),
		DecideSubject:   channel.DeviceDecideSubject(realm, id),
		InboxPrefix:     channel.DeviceInboxPrefix(realm, id),
		EnrolledAt:      time.Unix(1_700_000_000, 0).UTC(),
	}}
}

func TestSaveLoad(t *testing.T) {
	d := newDevice(t)
	if err := d.SetPIN("1234", 2); err != nil {
		t.Fatal(err)
	}
	if err := Save(d); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(d.Path)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v, %v; want 0700", fi.Mode(), err)
	}
	for _, f := range []string{MetaFile, KeyFile, NKeyFile} {
		fi, err := os.Stat(filepath.Join(d.Path, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", f, fi.Mode(), err)
		}
	}
	back, err := Load(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	pub1, _ := d.NKey.PublicKey()
	pub2, _ := back.NKey.PublicKey()
	if back.DeviceID != d.DeviceID || back.Key.KeyID() != d.Key.KeyID() || pub1 != pub2 || !back.EnrolledAt.Equal(d.EnrolledAt) {
		t.Fatalf("Load = %+v", back.Meta)
	}
	if !back.HasPIN() || !back.CheckPIN("1234") || back.CheckPIN("1235") || back.CheckPIN("") {
		t.Fatal("PIN check")
	}
	data, _ := os.ReadFile(filepath.Join(d.Path, MetaFile))
	if strings.Contains(string(data), "1234") {
		t.Fatal("device.json holds the PIN in clear")
	}
	if err := back.SetPIN("", 0); err != nil || back.HasPIN() || back.CheckPIN("") {
		t.Fatal("removing the PIN")
	}
}

func TestLoadNotEnrolled(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none")); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("err = %v, want ErrNotEnrolled", err)
	}
	if Exists(filepath.Join(t.TempDir(), "none")) {
		t.Fatal("Exists on a missing directory")
	}
}

// TestLoadCorrupt: every way a directory can be damaged is a
// *CorruptError naming the file, never a panic.
func TestLoadCorrupt(t *testing.T) {
	other := newDevice(t)
	otherKey, _ := other.Key.MarshalPEM()
	tests := []struct {
		name string
		file string
		data string // "" removes the file
	}{
		{"device.json not JSON", MetaFile, "{garbage"},
		{"device.json truncated", MetaFile, `{"v":1,"device_id":"dev-abc"`},
		{"device.json future version", MetaFile, `{"v":2}`},
		{"device.json unknown field", MetaFile, `{"v":1,"surprise":true}`},
		{"device.json bad device id", MetaFile, `{"v":1,"device_id":"a.b","user":"alice","realm":"master","key_id":"k"}`},
		{"device.json bad pin hash", "pin", ""},
		{"key missing", KeyFile, ""},
		{"key garbage", KeyFile, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
		{"key of another device", KeyFile, string(otherKey)},
		{"nkey missing", NKeyFile, ""},
		{"nkey garbage", NKeyFile, "SUAGARBAGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDevice(t)
			if err := Save(d); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(d.Path, tt.file)
			switch {
			case tt.file == "pin":
				d.PINHash = "pbkdf2-sha256$999999999$AAAA$AAAA"
				path = filepath.Join(d.Path, MetaFile)
				if err := Save(d); err != nil {
					t.Fatal(err)
				}
			case tt.data == "":
				os.Remove(path)
			default:
				if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(d.Path)
			var corrupt *CorruptError
			if !errors.As(err, &corrupt) || corrupt.File != path || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want a one-line CorruptError about %s", err, path)
			}
		})
	}
}

func TestDefaultPathStaysInside(t *testing.T) {
	for _, user := range []string{"alice", "../../etc", "a/b", ".."} {
		p := DefaultPath(user)
		if filepath.Dir(p) != ".cibalab-device" || strings.Contains(filepath.Base(p), "/") || filepath.Base(p) == ".." {
			t.Errorf("DefaultPath(%q) = %q escapes .cibalab-device", user, p)
		}
	}
}

func FuzzLoadMeta(f *testing.F) {
	d := newDevice(f)
	if err := Save(d); err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(d.Path, MetaFile))
	f.Add(good)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"v":1,"pin_hash":"pbkdf2-sha256$1$$"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		for _, name := range []string{KeyFile, NKeyFile} {
			src, _ := os.ReadFile(filepath.Join(d.Path, name))
			os.WriteFile(filepath.Join(dir, name), src, 0o600)
		}
		os.WriteFile(filepath.Join(dir, MetaFile), data, 0o600)
		got, err := Load(dir)
		if err == nil && (got.DeviceID == "" || got.Key == nil || got.NKey == nil) {
			t.Fatalf("Load accepted an incomplete device: %+v", got.Meta)
		}
	})
}
