package natskv

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cibalab/cibalab/server/store"
)

// defaultLockoutTTL is how long the lockout bucket keeps a key after its
// last write: longer than any rule's window plus cooldown.
const defaultLockoutTTL = time.Hour

// Lockouts is a store.LockoutStore on a NATS JetStream key-value bucket,
// so that OP replicas count failures together. Each key's store.Failures
// is written by compare-and-swap; the bucket drops keys not written for
// Config.TTL (an hour by default), and the sweep purges expired ones
// before.
type Lockouts struct {
	kv         jetstream.KeyValue
	maxRetries int
}

// NewLockouts creates the lockout bucket of cfg
// ("cibalab_lockouts_<Realm>" unless cfg.Bucket is set), or binds to it
// when it exists.
func NewLockouts(ctx context.Context, js jetstream.JetStream, cfg Config) (*Lockouts, error) {
	cfg = cfg.withDefaults("lockouts")
	if cfg.TTL <= 0 {
		cfg.TTL = defaultLockoutTTL
	}
	kv, err := openBucket(ctx, js, cfg, "failure counts and lockouts (user_code)")
	if err != nil {
		return nil, err
	}
	return &Lockouts{kv: kv, maxRetries: cfg.MaxRetries}, nil
}

var _ store.LockoutStore = (*Lockouts)(nil)

// Locked implements store.LockoutStore.
func (s *Lockouts) Locked(ctx context.Context, key string, now time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var f store.Failures
	_, err := getJSON(ctx, s.kv, kvKey(key), &f)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil && f.Locked(now), err
}

// Fail implements store.LockoutStore.
func (s *Lockouts) Fail(ctx context.Context, key string, now time.Time, rule store.LockoutRule) (bool, error) {
	k := kvKey(key)
	for range s.maxRetries {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		var f store.Failures
		rev, err := getJSON(ctx, s.kv, k, &f)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
		started := f.Fail(now, rule)
		if _, ok, err := casJSON(ctx, s.kv, k, rev, &f); err != nil {
			return false, err
		} else if ok {
			return started, nil
		}
	}
	return false, fmt.Errorf("natskv: record failure: still conflicting after %d attempts", s.maxRetries)
}

// Succeed implements store.LockoutStore: it purges the key at the revision
// read unless the key is locked out.
func (s *Lockouts) Succeed(ctx context.Context, key string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := kvKey(key)
	var f store.Failures
	rev, err := getJSON(ctx, s.kv, k, &f)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || f.Locked(now) {
		return err
	}
	// A failure recorded meanwhile stays: it came after this success.
	_, err = purgeAt(ctx, s.kv, k, rev)
	return err
}

// DeleteExpiredLockouts implements store.LockoutStore.
func (s *Lockouts) DeleteExpiredLockouts(ctx context.Context, cutoff time.Time) (int, error) {
	return purgeExpired(ctx, s.kv, cutoff, func(f *store.Failures) time.Time { return f.Until })
}
