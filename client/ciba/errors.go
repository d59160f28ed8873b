package ciba

import (
	"errors"
	"fmt"
)

// ErrExpired reports that the expires_in of the acknowledgement
// (CIBA Core 1.0 §7.3) elapsed before an answer reached the client (the
// user may have answered after the last poll); the client must start a
// new request.
var ErrExpired = errors.New("ciba: the request expired before an answer reached the client")

// ErrNoPush reports that in push mode (CIBA Core 1.0 §10.3) nothing was
// pushed for the request within its lifetime (expires_in) and
// PushGrace: the client cannot tell whether the user answered and the
// provider failed to deliver the outcome, or nobody answered and the
// expired_token push (§12) was lost. errors.Is(ErrNoPush, ErrExpired)
// holds, since the request can no longer succeed.
var ErrNoPush error = noPushError{}

type noPushError struct{}

func (noPushError) Error() string {
	return "ciba: nothing was pushed for the request within its lifetime (expires_in)"
}

func (noPushError) Is(target error) bool { return target == ErrExpired }

// ResponseError reports a response that does not follow the specification:
// a wrong content type, malformed JSON, a missing or invalid member, or a
// body larger than Config.MaxResponseBytes.
type ResponseError struct {
	// Endpoint is the URL that answered.
	Endpoint string
	// Status is the HTTP status of the response.
	Status int
	// Problem says, in one line, what was wrong.
	Problem string
}

// Error implements the error interface.
func (e *ResponseError) Error() string {
	return fmt.Sprintf("ciba: %s: HTTP %d: %s", e.Endpoint, e.Status, e.Problem)
}
