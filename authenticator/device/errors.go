package device

import (
	"errors"
	"fmt"
)

// ErrBadCredentials reports that the OP refused an enrollment because the
// user id or password is wrong (channel error bad_credentials).
var ErrBadCredentials = errors.New("device: bad credentials")

// ErrDeviceRefused reports that the NATS server refused the device's
// credentials: the device was revoked, or enrolled with another OP.
var ErrDeviceRefused = errors.New("device: the OP's NATS server refused this device (revoked, or enrolled with another OP)")

// RefusedError is a refusal by the OP: Code is one of the channel error
// codes (channel.ErrNotPending, channel.ErrReplay, ...), Description the
// OP's explanation.
type RefusedError struct {
	Code        string
	Description string
}

// Error implements the error interface as "device: refused: code: description".
func (e *RefusedError) Error() string {
	if e.Description == "" {
		return "device: refused: " + e.Code
	}
	return fmt.Sprintf("device: refused: %s: %s", e.Code, e.Description)
}
