package ciba

import (
	"errors"
	"fmt"
)

// ErrExpired reports that the expires_in of the acknowledgement
// (CIBA Core 1.0 §7.3) elapsed before the user answered; the client must
// start a new request.
var ErrExpired = errors.New("ciba: request expired before the user answered")

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
