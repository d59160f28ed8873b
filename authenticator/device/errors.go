package device

import (
	"errors"
	"fmt"
)

// ErrBadCredentials reports that the OP refused the sign-in because the
// user id or password is wrong (channel error bad_credentials).
var ErrBadCredentials = errors.New("device: bad credentials")

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
