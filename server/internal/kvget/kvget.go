// Package kvget reads an entry of a JetStream key-value bucket, waiting
// out the moments when no replica of the bucket's stream answers.
//
// A key-value Get is a direct get (ADR-31): any current replica of the
// stream answers it on $JS.API.DIRECT.GET.<stream>. Right after a
// replicated stream is created, or while a cluster node restarts, there
// can be an instant when none has subscribed yet, and the request fails
// at once with "no responders" although the bucket is there.
package kvget

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// retryWait is the pause between two tries while nobody answers.
const retryWait = 25 * time.Millisecond

// maxWait bounds the wait when ctx has no earlier deadline: a stream that
// nobody serves for this long (deleted, or its cluster without a
// majority) is reported rather than waited for.
const maxWait = 5 * time.Second

// Get returns kv.Get(ctx, key), asked again while the answer is
// nats.ErrNoResponders, until ctx ends or maxWait has passed; it then
// returns that last error.
func Get(ctx context.Context, kv jetstream.KeyValue, key string) (jetstream.KeyValueEntry, error) {
	e, err := kv.Get(ctx, key)
	if !errors.Is(err, nats.ErrNoResponders) {
		return e, err // the common case: no timer, no new context
	}
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	t := time.NewTimer(retryWait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, err
		case <-t.C:
		}
		e, err = kv.Get(ctx, key)
		if !errors.Is(err, nats.ErrNoResponders) {
			return e, err
		}
		t.Reset(retryWait)
	}
}
