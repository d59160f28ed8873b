package oprun

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestElecting: Start waits on a timeout and on JetStream's "no suitable
// peers for placement" (a cluster still forming), not on other errors.
func TestElecting(t *testing.T) {
	noPeers := fmt.Errorf("natskv: key-value bucket %q: %w", "b", &jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement, peer offline"})
	for err, want := range map[error]bool{
		fmt.Errorf("registry: JetStream: %w", context.DeadlineExceeded): true,
		noPeers: true,
		fmt.Errorf("natskv: %w", &jetstream.APIError{Code: 503, ErrorCode: jetstream.JSErrCodeJetStreamNotEnabled}): false,
		errors.New("bad key"): false,
	} {
		if got := electing(err); got != want {
			t.Errorf("electing(%v) = %v, want %v", err, got, want)
		}
	}
}
