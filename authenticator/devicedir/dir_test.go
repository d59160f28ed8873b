package devicedir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/shared/channel"
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

// TestSaveExistingDirectory: a first Save creates a missing directory 0700
// and uses an empty private one as it is, but never takes over, or changes
// the mode of, a directory that is shared, foreign or a symbolic link.
func TestSaveExistingDirectory(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, path string) // prepares path
		ok    bool
	}{
		{"missing, with missing parents", func(t *testing.T, path string) {}, true},
		{"empty and private", func(t *testing.T, path string) { mkdir(t, path, 0o700) }, true},
		{"group and others can read it", func(t *testing.T, path string) { mkdir(t, path, 0o755) }, false},
		{"holds other files", func(t *testing.T, path string) {
			mkdir(t, path, 0o700)
			if err := os.WriteFile(filepath.Join(path, ".profile"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"a symbolic link to a private directory", func(t *testing.T, path string) {
			target := filepath.Join(t.TempDir(), "target")
			mkdir(t, target, 0o700)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"a file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDevice(t)
			d.Path = filepath.Join(t.TempDir(), "a", "b", "dev")
			if err := os.MkdirAll(filepath.Dir(d.Path), 0o755); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, d.Path)
			before, _ := os.Stat(d.Path)
			err := Save(d)
			if tt.ok != (err == nil) {
				t.Fatalf("Save: %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				if after, _ := os.Stat(d.Path); before.Mode() != after.Mode() {
					t.Fatalf("mode changed from %v to %v", before.Mode(), after.Mode())
				}
				if _, err := os.Stat(filepath.Join(d.Path, KeyFile)); err == nil {
					t.Fatal("a key was written")
				}
				return
			}
			fi, err := os.Lstat(d.Path)
			if err != nil || fi.Mode().Perm() != 0o700 || !fi.IsDir() {
				t.Fatalf("directory %v, %v; want 0700", fi.Mode(), err)
			}
			if _, err := Load(d.Path); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSaveTwice: a second new device cannot be saved over an enrolled
// one (two enrollments racing into one directory), while a loaded device
// is rewritten in place (enrolled again).
func TestSaveTwice(t *testing.T) {
	first := newDevice(t)
	if err := Save(first); err != nil {
		t.Fatal(err)
	}
	if err := CheckNew(first.Path); !errors.Is(err, os.ErrExist) {
		t.Fatalf("CheckNew = %v, want ErrExist", err)
	}
	second := newDevice(t)
	second.Path = first.Path
	if err := Save(second); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second Save = %v, want ErrExist", err)
	}
	back, err := Load(first.Path)
	if err != nil || back.KeyID != first.Key.KeyID() {
		t.Fatalf("Load after a refused Save: %v (key_id %q, want %q)", err, back.KeyID, first.Key.KeyID())
	}
	back.DeviceID = "dev-again"
	back.PendingSubject = channel.DevicePendingSubject(back.Realm, back.DeviceID)
	back.DecideSubject = channel.DeviceDecideSubject(back.Realm, back.DeviceID)
	back.InboxPrefix = channel.DeviceInboxPrefix(back.Realm, back.DeviceID)
	if err := Save(back); err != nil {
		t.Fatalf("Save of a loaded device: %v", err)
	}
	if again, err := Load(first.Path); err != nil || again.DeviceID != "dev-again" {
		t.Fatalf("Load = %+v, %v", again, err)
	}
	if err := Save(back); err != nil {
		t.Fatalf("saving the same device twice: %v", err)
	}
}

// TestLoadUnsafe: a device directory others can reach, or a file of it
// others can read, is refused with a *CorruptError.
func TestLoadUnsafe(t *testing.T) {
	tests := []struct {
		name string
		file string // "" is the directory
		mode os.FileMode
	}{
		{"directory readable by group", "", 0o750},
		{"directory open to others", "", 0o701},
		{"key readable by others", KeyFile, 0o644},
		{"nkey readable by group", NKeyFile, 0o640},
		{"device.json readable by others", MetaFile, 0o604},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDevice(t)
			if err := Save(d); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(d.Path, tt.file)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := Load(d.Path)
			var corrupt *CorruptError
			if !errors.As(err, &corrupt) || filepath.Clean(corrupt.File) != filepath.Clean(path) || !strings.Contains(err.Error(), "group or others") {
				t.Fatalf("err = %v, want a CorruptError about %s", err, path)
			}
		})
	}
	t.Run("symbolic link", func(t *testing.T) {
		d := newDevice(t)
		if err := Save(d); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(d.Path, link); err != nil {
			t.Fatal(err)
		}
		var corrupt *CorruptError
		if _, err := Load(link); !errors.As(err, &corrupt) {
			t.Fatalf("err = %v, want a CorruptError", err)
		}
	})
}

func mkdir(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
}
