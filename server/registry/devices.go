package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/pki"
)

// devicesFile holds the enrolled authentication devices.
const devicesFile = "devices.json"

// ErrDeviceRevoked reports an enrollment of keys that belong to a revoked
// device: a revoked device stays revoked, its keys cannot come back.
var ErrDeviceRevoked = errors.New("registry: device revoked")

// maxDeviceName bounds a device's display name, in runes.
const maxDeviceName = 64

// Device is an enrolled authentication device (CIBA Core 1.0 §8: the
// device on which the OP authenticates the user). It holds only public
// keys: the ES256 key that signs the device's decisions and the NATS user
// nkey the device connects with.
type Device struct {
	// ID is chosen by the OP; a valid channel device id.
	ID   string `json:"id"`
	User string `json:"user"`
	Name string `json:"name,omitempty"`
	// Key is the public ES256 key (EC P-256 JWK) of the device's decisions.
	Key pki.JWK `json:"key"`
	// NKey is the public NATS user nkey ("U" and 55 more base32
	// characters) the device authenticates to NATS with.
	NKey      string     `json:"nkey"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Revoked reports whether the device was revoked.
func (d *Device) Revoked() bool { return d.RevokedAt != nil }

// PublicKey is the device's decision key.
func (d *Device) PublicKey() (*ecdsa.PublicKey, error) {
	k, err := p256Key(d.Key)
	if err != nil {
		return nil, fmt.Errorf("registry: device %s: %w", d.ID, err)
	}
	return k, nil
}

// p256Key is the EC P-256 public key of jwk.
func p256Key(jwk pki.JWK) (*ecdsa.PublicKey, error) {
	pub, err := jwk.PublicKey()
	if err != nil {
		return nil, err
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, errors.New("key is not EC P-256")
	}
	return k, nil
}

type deviceList struct {
	Devices []Device `json:"devices"`
}

// readDevices reads devices.json afresh, for a writer holding the lock.
func (d *Dir) readDevices() (deviceList, error) {
	return readDoc[deviceList](d, devicesFile)
}

// loadDevices returns devices.json from memory, re-read when the file
// changed: one stat per call, so a change made by another process (ciba-op
// device revoke) is seen at once. The list is shared: callers copy what
// they return.
func (d *Dir) loadDevices() (deviceList, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return loadDoc(d, &d.devices, devicesFile)
}

// Devices returns every enrolled device, revoked ones included, sorted by
// user then creation time. devices.json is stat'ed on every call and
// re-read when it changed, so a change made by another process (ciba-op
// device revoke) is seen at once.
func (d *Dir) Devices() ([]Device, error) {
	list, err := d.loadDevices()
	if err != nil {
		return nil, err
	}
	out := slices.Clone(list.Devices)
	sortDevices(out)
	return out, nil
}

// Device returns a copy of the device id; an unknown id gives an error
// wrapping ErrNotFound.
func (d *Dir) Device(id string) (*Device, error) {
	list, err := d.loadDevices()
	if err != nil {
		return nil, err
	}
	for _, dev := range list.Devices {
		if dev.ID == id {
			return &dev, nil
		}
	}
	return nil, fmt.Errorf("registry: device %q: %w", id, ErrNotFound)
}

// EnrollDevice stores a new device of dev.User with dev.Name, dev.Key and
// dev.NKey (dev.ID, CreatedAt and RevokedAt are ignored) and returns it
// with its new id. The caller has authenticated the user. Enrolling the
// same two keys again for the same user returns the existing device, so a
// device may retry; keys of a revoked device give ErrDeviceRevoked; keys
// enrolled for another user give an error wrapping ErrExists.
func (d *Dir) EnrollDevice(dev Device) (Device, error) {
	var out Device
	err := d.withLock(func() error {
		var err error
		out, err = d.enrollDeviceLocked(dev)
		return err
	})
	return out, err
}

func (d *Dir) enrollDeviceLocked(dev Device) (Device, error) {
	if !userIDPattern.MatchString(dev.User) {
		return Device{}, fmt.Errorf("registry: device: bad user id %q", dev.User)
	}
	if err := checkDeviceName(dev.Name); err != nil {
		return Device{}, err
	}
	if !validNKey(dev.NKey) {
		return Device{}, errors.New("registry: device: nkey is not a public NATS user key")
	}
	dev.Key = pki.JWK{Kty: dev.Key.Kty, Crv: dev.Key.Crv, X: dev.Key.X, Y: dev.Key.Y, Kid: dev.Key.Kid, Alg: "ES256", Use: "sig"}
	if _, err := p256Key(dev.Key); err != nil {
		return Device{}, errors.New("registry: device: key is not an EC P-256 public key")
	}
	list, err := d.readDevices()
	if err != nil {
		return Device{}, err
	}
	for _, e := range list.Devices {
		sameKey := e.Key.X == dev.Key.X && e.Key.Y == dev.Key.Y
		if e.NKey != dev.NKey && !sameKey {
			continue
		}
		switch {
		case e.Revoked():
			return Device{}, fmt.Errorf("registry: device %s: %w", e.ID, ErrDeviceRevoked)
		case e.User != dev.User || e.NKey != dev.NKey || !sameKey:
			return Device{}, fmt.Errorf("registry: device keys: %w", ErrExists)
		}
		return e, nil // the same device enrolling again
	}
	dev.ID, err = newDeviceID()
	if err != nil {
		return Device{}, err
	}
	dev.CreatedAt = d.now().UTC()
	dev.RevokedAt = nil
	list.Devices = append(list.Devices, dev)
	sortDevices(list.Devices)
	if err := saveDoc(d, devicesFile, &d.devices, list); err != nil {
		return Device{}, err
	}
	d.log.Info("registry.device_enrolled", "device", dev.ID, "user", dev.User, "name", dev.Name)
	return dev, nil
}

// RevokeDevice revokes the device id: from then on the OP refuses its
// connections and decisions, and its keys cannot enroll again. An unknown
// id gives an error wrapping ErrNotFound; revoking twice keeps the first
// time.
func (d *Dir) RevokeDevice(id string) (Device, error) {
	var out Device
	err := d.withLock(func() error {
		list, err := d.readDevices()
		if err != nil {
			return err
		}
		i := slices.IndexFunc(list.Devices, func(e Device) bool { return e.ID == id })
		if i < 0 {
			return fmt.Errorf("registry: device %q: %w", id, ErrNotFound)
		}
		if !list.Devices[i].Revoked() {
			now := d.now().UTC()
			list.Devices[i].RevokedAt = &now
			if err := saveDoc(d, devicesFile, &d.devices, list); err != nil {
				return err
			}
			d.log.Info("registry.device_revoked", "device", id, "user", list.Devices[i].User)
		}
		out = list.Devices[i]
		return nil
	})
	return out, err
}

func sortDevices(devs []Device) {
	slices.SortFunc(devs, func(a, b Device) int {
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// newDeviceID returns "dev-" and 16 random base32 characters (80 bits).
func newDeviceID() (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("registry: device id: %w", err)
	}
	id := "dev-" + strings.ToLower(base32.StdEncoding.EncodeToString(b))
	if err := channel.ValidDeviceID(id); err != nil {
		return "", err
	}
	return id, nil
}

// checkDeviceName accepts up to 64 printable runes.
func checkDeviceName(name string) error {
	if utf8.RuneCountInString(name) > maxDeviceName || !utf8.ValidString(name) {
		return fmt.Errorf("registry: device name: at most %d characters", maxDeviceName)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return errors.New("registry: device name: printable characters only")
		}
	}
	return nil
}

// validNKey checks the shape of a public NATS user nkey: "U" and 55
// characters of the base32 alphabet. The NATS server checks its checksum.
func validNKey(s string) bool {
	if len(s) != 56 || s[0] != 'U' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
