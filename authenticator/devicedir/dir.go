package devicedir

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cibalab/cibalab/authenticator/devicekey"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/pki"
)

// File names inside a device directory.
const (
	MetaFile = "device.json"
	KeyFile  = "device-key.pem"
	NKeyFile = "nats.nk"
)

// FormatVersion is the version of device.json.
const FormatVersion = 1

// PINIterations is the PBKDF2-SHA256 iteration count of a new PIN hash.
const PINIterations = 210000

// maxPINIterations bounds a stored count, so a tampered file cannot make
// a PIN check spin for minutes.
const maxPINIterations = 10_000_000

// ErrNotEnrolled reports a device directory that does not exist (or has
// no device.json): the device must enroll first.
var ErrNotEnrolled = errors.New("devicedir: not enrolled")

// CorruptError reports a device directory that exists but cannot be used.
type CorruptError struct {
	File   string // the file at fault
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("devicedir: %s: %s (enroll again into a new directory)", e.File, e.Reason)
}

// Meta is the content of device.json.
type Meta struct {
	Version         int       `json:"v"`
	DeviceID        string    `json:"device_id"`
	User            string    `json:"user"`
	Realm           string    `json:"realm"`
	NATSURL         string    `json:"nats_url,omitempty"`
	DeviceName      string    `json:"device_name,omitempty"`
	KeyID           string    `json:"key_id"`
	RequestsSubject string    `json:"requests_subject"`
	PendingSubject  string    `json:"pending_subject"`
	DecideSubject   string    `json:"decide_subject"`
	InboxPrefix     string    `json:"inbox_prefix"`
	EnrolledAt      time.Time `json:"enrolled_at"`
	// PINHash is "pbkdf2-sha256$<iterations>$<salt>$<hash>" (unpadded
	// standard base64), empty when the device has no PIN.
	PINHash string `json:"pin_hash,omitempty"`
}

// Device is an enrolled device as stored in its directory.
type Device struct {
	Path string
	Meta
	Key  *devicekey.Key
	NKey nkeys.KeyPair

	// loaded is set for a device read by Load or already saved: Save
	// rewrites its files instead of creating them.
	loaded bool
}

// DefaultPath is the default device directory of user:
// .cibalab-device/<user> under the working directory, the user id encoded
// by channel.UserToken (so "../x" cannot escape).
func DefaultPath(user string) string {
	return filepath.Join(".cibalab-device", channel.UserToken(user))
}

// NewKeys generates the two key pairs of a new device: the ES256 decision
// key and the NATS user nkey.
func NewKeys() (*devicekey.Key, nkeys.KeyPair, error) {
	key, err := devicekey.Generate()
	if err != nil {
		return nil, nil, fmt.Errorf("devicedir: %w", err)
	}
	nk, err := nkeys.CreateUser()
	if err != nil {
		return nil, nil, fmt.Errorf("devicedir: nkey: %w", err)
	}
	return key, nk, nil
}

// Exists reports whether path holds a device.json.
func Exists(path string) bool {
	_, err := os.Stat(filepath.Join(path, MetaFile))
	return err == nil
}

// Save writes d into d.Path; every file is written 0600, atomically, the
// keys before device.json, so a directory with a device.json always has
// its keys.
//
// A device that did not come from Load is saved for the first time: a
// missing directory is created 0700 (its missing parents too); an existing
// one must be a real directory (not a symbolic link), accessible by its
// owner only, and hold nothing but device files. Its files are created
// exclusively, so two enrollments into one directory cannot both succeed.
// A loaded device (enrolled again) is rewritten in place. Save never
// changes the mode of a directory it did not create.
func Save(d *Device) error {
	if d.Path == "" || d.Key == nil || d.NKey == nil {
		return errors.New("devicedir: Save needs a path and both keys")
	}
	if err := prepareDir(d.Path); err != nil {
		return err
	}
	keyPEM, err := d.Key.MarshalPEM()
	if err != nil {
		return err
	}
	seed, err := d.NKey.Seed()
	if err != nil {
		return fmt.Errorf("devicedir: nkey: %w", err)
	}
	d.Version = FormatVersion
	d.KeyID = d.Key.KeyID()
	meta, err := json.MarshalIndent(d.Meta, "", "  ")
	if err != nil {
		return fmt.Errorf("devicedir: %w", err)
	}
	write := writeNewFile
	if d.loaded {
		write = pki.WriteSecretFile
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{KeyFile, keyPEM}, {NKeyFile, append(seed, '\n')}, {MetaFile, append(meta, '\n')}} {
		if err := write(filepath.Join(d.Path, f.name), f.data); err != nil {
			return fmt.Errorf("devicedir: %w", err)
		}
	}
	d.loaded = true
	return nil
}

// CheckNew reports whether Save could create a new device in path: nil
// when path is missing, or is an empty (or device-files-only) directory
// without a device.json that only its owner can access.
func CheckNew(path string) error {
	if Exists(path) {
		return fmt.Errorf("devicedir: %s already holds an enrolled device: %w", path, fs.ErrExist)
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return checkDir(path)
}

// prepareDir creates the device directory (0700) when it is missing, else
// checks it with checkDir.
func prepareDir(path string) error {
	if parent := filepath.Dir(path); parent != "." {
		if err := os.MkdirAll(parent, 0o700); err != nil {
			return fmt.Errorf("devicedir: %w", err)
		}
	}
	err := os.Mkdir(path, 0o700)
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("devicedir: %w", err)
	}
	return checkDir(path)
}

// checkDir accepts an existing device directory: a directory, not a
// symbolic link, that neither group nor others can access, holding
// nothing but device files (and temporary files of an atomic write).
func checkDir(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("devicedir: %w", err)
	}
	if reason := unsafeDir(fi); reason != "" {
		return fmt.Errorf("devicedir: %s %s", path, reason)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("devicedir: %w", err)
	}
	for _, e := range entries {
		if !deviceFile(e.Name()) {
			return fmt.Errorf("devicedir: %s is not empty and not a device directory (it holds %q)", path, e.Name())
		}
	}
	return nil
}

// unsafeDir is why fi cannot be a device directory, or "".
func unsafeDir(fi fs.FileInfo) string {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return "is a symbolic link"
	case !fi.IsDir():
		return "is not a directory"
	case runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0:
		return fmt.Sprintf("is accessible by group or others (mode %04o, want 0700)", fi.Mode().Perm())
	}
	return ""
}

// deviceFile reports whether name belongs in a device directory.
func deviceFile(name string) bool {
	switch name {
	case MetaFile, KeyFile, NKeyFile:
		return true
	}
	for _, f := range []string{MetaFile, KeyFile, NKeyFile} {
		if strings.HasPrefix(name, "."+f+".tmp") {
			return true
		}
	}
	return false
}

// writeNewFile writes data to path (0600) when path does not exist yet:
// through a temporary file hard-linked to path, so that path appears
// complete or not at all, and an existing path is never replaced.
func writeNewFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(name, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists (another enrollment into this directory?): %w", path, fs.ErrExist)
		}
		return err
	}
	return nil
}

// Load reads the device directory at path and checks it: a missing one is
// ErrNotEnrolled, an unusable or unsafe one (a symbolic link, a directory
// group or others can access, a file not 0600) a *CorruptError.
func Load(path string) (*Device, error) {
	metaPath := filepath.Join(path, MetaFile)
	data, err := os.ReadFile(metaPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, &CorruptError{metaPath, err.Error()}
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, &CorruptError{path, err.Error()}
	}
	if reason := unsafeDir(fi); reason != "" {
		return nil, &CorruptError{path, reason}
	}
	for _, name := range []string{MetaFile, KeyFile, NKeyFile} {
		p := filepath.Join(path, name)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // reported below
		}
		switch {
		case err != nil:
			return nil, &CorruptError{p, err.Error()}
		case !fi.Mode().IsRegular():
			return nil, &CorruptError{p, "not a regular file"}
		case runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0:
			return nil, &CorruptError{p, fmt.Sprintf("accessible by group or others (mode %04o, want 0600)", fi.Mode().Perm())}
		}
	}
	d := &Device{Path: path, loaded: true}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d.Meta); err != nil {
		return nil, &CorruptError{metaPath, "not valid JSON: " + err.Error()}
	}
	if err := d.Meta.check(); err != nil {
		return nil, &CorruptError{metaPath, err.Error()}
	}
	keyPath := filepath.Join(path, KeyFile)
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, &CorruptError{keyPath, err.Error()}
	}
	if d.Key, err = devicekey.ParsePEM(keyPEM); err != nil {
		return nil, &CorruptError{keyPath, err.Error()}
	}
	if d.Key.KeyID() != d.KeyID {
		return nil, &CorruptError{keyPath, "the key is not the enrolled one (key_id differs)"}
	}
	nkPath := filepath.Join(path, NKeyFile)
	seed, err := os.ReadFile(nkPath)
	if err != nil {
		return nil, &CorruptError{nkPath, err.Error()}
	}
	if d.NKey, err = nkeys.FromSeed(bytes.TrimSpace(seed)); err != nil {
		return nil, &CorruptError{nkPath, "not an nkey seed"}
	}
	if pub, err := d.NKey.PublicKey(); err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return nil, &CorruptError{nkPath, "not a user nkey"}
	}
	return d, nil
}

// check validates device.json's fields.
func (m *Meta) check() error {
	switch {
	case m.Version != FormatVersion:
		return fmt.Errorf("format version %d, want %d", m.Version, FormatVersion)
	case channel.ValidDeviceID(m.DeviceID) != nil:
		return errors.New("bad device_id")
	case m.User == "":
		return errors.New("no user")
	case channel.ValidRealm(m.Realm) != nil:
		return errors.New("bad realm")
	case m.KeyID == "":
		return errors.New("no key_id")
	}
	want := map[string]string{
		"requests_subject": channel.UserRequestsSubject(m.Realm, m.User),
		"pending_subject":  channel.DevicePendingSubject(m.Realm, m.DeviceID),
		"decide_subject":   channel.DeviceDecideSubject(m.Realm, m.DeviceID),
		"inbox_prefix":     channel.DeviceInboxPrefix(m.Realm, m.DeviceID),
	}
	got := map[string]string{"requests_subject": m.RequestsSubject, "pending_subject": m.PendingSubject,
		"decide_subject": m.DecideSubject, "inbox_prefix": m.InboxPrefix}
	for k, v := range want {
		if got[k] != v {
			return fmt.Errorf("%s is not the device's", k)
		}
	}
	if m.PINHash != "" {
		if _, _, _, err := parsePINHash(m.PINHash); err != nil {
			return err
		}
	}
	return nil
}

// SetPIN stores a hash of pin in d.Meta (Save writes it); an empty pin
// removes the PIN. iterations 0 means PINIterations.
func (d *Device) SetPIN(pin string, iterations int) error {
	if pin == "" {
		d.PINHash = ""
		return nil
	}
	if iterations <= 0 {
		iterations = PINIterations
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return fmt.Errorf("devicedir: %w", err)
	}
	sum, err := pbkdf2.Key(sha256.New, pin, salt, iterations, 32)
	if err != nil {
		return fmt.Errorf("devicedir: %w", err)
	}
	enc := base64.RawStdEncoding
	d.PINHash = "pbkdf2-sha256$" + strconv.Itoa(iterations) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(sum)
	return nil
}

// HasPIN reports whether the device asks for a PIN before approving.
func (d *Device) HasPIN() bool { return d.PINHash != "" }

// CheckPIN reports whether pin is the device's PIN, comparing in constant
// time. A device without a PIN accepts nothing.
func (d *Device) CheckPIN(pin string) bool {
	iter, salt, want, err := parsePINHash(d.PINHash)
	if err != nil {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, pin, salt, iter, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

func parsePINHash(s string) (int, []byte, []byte, error) {
	bad := errors.New("malformed pin_hash")
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return 0, nil, nil, bad
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > maxPINIterations {
		return 0, nil, nil, bad
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	sum, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(sum) < 16 || len(sum) > 64 {
		return 0, nil, nil, bad
	}
	return iter, salt, sum, nil
}
