package natskv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cibalab/cibalab/server/internal/kvget"
	"github.com/cibalab/cibalab/server/store"
)

// getJSON reads key into v and returns the key's revision;
// store.ErrNotFound when the key does not exist or is deleted.
func getJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (uint64, error) {
	e, err := kvget.Get(ctx, kv, key)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return 0, store.ErrNotFound
		}
		return 0, fmt.Errorf("natskv: get: %w", err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("natskv: decode %s: %w", e.Bucket(), err)
	}
	return e.Revision(), nil
}

// casJSON writes v to key: a new key when rev is 0, else only if the
// key's revision is still rev. It reports conflict (false, nil) when
// another writer came first, and returns the new revision.
func casJSON(ctx context.Context, kv jetstream.KeyValue, key string, rev uint64, v any) (uint64, bool, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, false, fmt.Errorf("natskv: encode: %w", err)
	}
	var next uint64
	if rev == 0 {
		next, err = kv.Create(ctx, key, b)
	} else {
		next, err = kv.Update(ctx, key, b, rev)
	}
	switch {
	case err == nil:
		return next, true, nil
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch), isWrongLastSequence(err):
		return 0, false, nil
	default:
		return 0, false, fmt.Errorf("natskv: write: %w", err)
	}
}

// purgeAt removes key and its history if its revision is still rev. It
// reports whether it did: a key changed since it was read is left alone.
func purgeAt(ctx context.Context, kv jetstream.KeyValue, key string, rev uint64) (bool, error) {
	err := kv.Purge(ctx, key, jetstream.LastRevision(rev))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch), isWrongLastSequence(err):
		return false, nil
	default:
		return false, fmt.Errorf("natskv: purge: %w", err)
	}
}

// markerAge is how long the purge markers of removed keys are kept before
// purgeMarkers drops them: long enough for a watcher to see the removal.
// Tests set it negative: every marker is dropped.
var markerAge = time.Minute

// purgeMarkers drops the markers of keys purged more than markerAge ago,
// so that removed keys leave nothing in the bucket.
func purgeMarkers(ctx context.Context, kv jetstream.KeyValue) error {
	if err := kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(markerAge)); err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return fmt.Errorf("natskv: purge markers: %w", err)
	}
	return nil
}

// purgeExpired purges, at the revision read, every record of kv (decoded
// as R) whose until time is before cutoff, then the old purge markers. It
// returns how many it purged; a record changed since it was read stays.
func purgeExpired[R any](ctx context.Context, kv jetstream.KeyValue, cutoff time.Time, until func(*R) time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	keys, err := listKeys(ctx, kv)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		var r R
		rev, err := getJSON(ctx, kv, k, &r)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if !until(&r).Before(cutoff) {
			continue
		}
		ok, err := purgeAt(ctx, kv, k, rev)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, purgeMarkers(ctx, kv)
}
