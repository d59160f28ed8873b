package channel

import (
	"encoding/json"
	"errors"
)

// errInvalidDeviceID reports a device id that cannot be a subject token.
var errInvalidDeviceID = errors.New("channel: device id must be 1 to 64 characters of [A-Za-z0-9_-]")

// ValidDeviceID reports an error unless id is 1 to 64 characters of
// [A-Za-z0-9_-]: the OP chooses device ids, and each becomes a subject
// token, so they are validated like realms.
func ValidDeviceID(id string) error {
	if ValidRealm(id) != nil {
		return errInvalidDeviceID
	}
	return nil
}

// EnrollSubject is where a new device publishes an [EnrollHello] (no
// reply). It is the only subject a connection without credentials may
// publish to, and such a connection may subscribe to nothing, so it reads
// nobody's replies.
func EnrollSubject(realm string) string { return base(realm) + ".device.enroll" }

// ValidNKeyToken reports an error unless nkey can be a subject token: 56
// characters of the base32 alphabet of NATS nkeys ([A-Z2-7]). The OP
// checks that it is a public user nkey.
func ValidNKeyToken(nkey string) error {
	if len(nkey) != 56 {
		return errInvalidNKey
	}
	for i := 0; i < len(nkey); i++ {
		if c := nkey[i]; !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return errInvalidNKey
		}
	}
	return nil
}

var errInvalidNKey = errors.New("channel: nkey must be 56 characters of [A-Z2-7]")

// EnrollKeySubject is where a device sends its [EnrollRequest]
// (request/reply) once the OP admitted its nkey after an [EnrollHello]:
// only a connection authenticated with nkey may publish there, so the
// subject names the sender.
func EnrollKeySubject(realm, nkey string) string { return base(realm) + ".enroll." + nkey }

// EnrollInboxPrefix is the inbox prefix (nats.CustomInboxPrefix) of a
// device enrolling with nkey: only that nkey may subscribe below it, so
// nobody else reads its [EnrollResponse].
func EnrollInboxPrefix(realm, nkey string) string {
	return "_INBOX_cibalab_enroll." + realm + "." + nkey
}

// EnrollHello asks the OP to admit a new device's NATS nkey for a short
// while (channel protocol step 0a), so that the device can then connect
// with it and enroll over a connection only it holds. It carries no
// secret.
type EnrollHello struct {
	Version int    `json:"v"`
	NKey    string `json:"nkey"` // public NATS user nkey ("U...")
}

// DevicePendingSubject is where the enrolled device deviceID sends a
// [PendingRequest] to list its user's pending requests (request/reply).
// Only that device may publish on it, so the subject names the sender.
func DevicePendingSubject(realm, deviceID string) string {
	return base(realm) + ".device." + deviceID + ".pending"
}

// DeviceDecideSubject is where the enrolled device deviceID sends a
// [Decision] (request/reply). Only that device may publish on it.
func DeviceDecideSubject(realm, deviceID string) string {
	return base(realm) + ".device." + deviceID + ".decide"
}

// DeviceInboxPrefix is the inbox prefix (nats.CustomInboxPrefix) of the
// enrolled device deviceID: replies to it arrive below this prefix, and
// only that device may subscribe there, so no other connection reads its
// pending lists or decision results.
func DeviceInboxPrefix(realm, deviceID string) string {
	return "_INBOX_cibalab." + realm + "." + deviceID
}

// EnrollRequest enrolls a device (channel protocol step 0): it proves the
// user with their password and registers the device's two public keys,
// the ES256 key that signs decisions and the NATS nkey the device connects
// with. Password is a secret: never log it.
type EnrollRequest struct {
	Version    int             `json:"v"`
	User       string          `json:"user"`
	Password   string          `json:"password"`
	DeviceName string          `json:"device_name,omitempty"`
	DeviceKey  json.RawMessage `json:"device_key"` // public JWK, EC P-256, ES256
	NKey       string          `json:"nkey"`       // public NATS user nkey ("U...")
}

// EnrollResponse answers an EnrollRequest. On success it names the device
// and the subjects its NATS credentials open; on failure Error is set and
// the other fields are empty. Enrolling the same keys again for the same
// user answers with the same device.
type EnrollResponse struct {
	Version          int    `json:"v"`
	DeviceID         string `json:"device_id,omitempty"`
	User             string `json:"user,omitempty"`
	RequestsSubject  string `json:"requests_subject,omitempty"`
	PendingSubject   string `json:"pending_subject,omitempty"`
	DecideSubject    string `json:"decide_subject,omitempty"`
	InboxPrefix      string `json:"inbox_prefix,omitempty"`
	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// Error codes of enrolled devices' replies.
const (
	ErrUnknownDevice = "unknown_device" // no such device: enroll
	ErrDeviceRevoked = "device_revoked" // the OP's operator revoked the device
)

// Event types about devices, published on EventsSubject.
const (
	EventDeviceEnrolled = "device.enrolled"
	EventDeviceRevoked  = "device.revoked"
)
