package natskv

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cibalab/cibalab/server/store"
)

// jtiRecord is the value of a recorded jti: when it may be forgotten.
type jtiRecord struct {
	Until time.Time
}

// JTIs is a store.JTIStore on a NATS JetStream key-value bucket, so that
// a JWT used at one OP replica is refused at every other. A first use is
// a create of the key, which JetStream grants once; a key whose record
// expired is taken over by compare-and-swap at the revision read.
type JTIs struct {
	kv jetstream.KeyValue
}

// NewJTIs creates the jti bucket of cfg ("cibalab_jtis_<Realm>" unless
// cfg.Bucket is set), or binds to it when it exists.
func NewJTIs(ctx context.Context, js jetstream.JetStream, cfg Config) (*JTIs, error) {
	cfg = cfg.withDefaults("jtis")
	cfg.TTL = 0 // only the lockout bucket has a TTL
	kv, err := openBucket(ctx, js, cfg, "jti of single-use JWTs, until they expire")
	if err != nil {
		return nil, err
	}
	return &JTIs{kv: kv}, nil
}

var _ store.JTIStore = (*JTIs)(nil)

// UseJTI implements store.JTIStore.
func (s *JTIs) UseJTI(ctx context.Context, key string, expiry, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := kvKey(key)
	var cur jtiRecord
	rev, err := getJSON(ctx, s.kv, k, &cur)
	switch {
	case errors.Is(err, store.ErrNotFound):
		rev = 0
	case err != nil:
		return err
	case now.Before(cur.Until):
		return store.ErrReplay
	}
	_, ok, err := casJSON(ctx, s.kv, k, rev, jtiRecord{Until: expiry})
	if err != nil {
		return err
	}
	if !ok {
		// Another use of the key came first, at this replica or another.
		return store.ErrReplay
	}
	return nil
}

// DeleteExpiredJTIs implements store.JTIStore: it purges the keys expired
// before cutoff at the revision read, then the old purge markers.
func (s *JTIs) DeleteExpiredJTIs(ctx context.Context, cutoff time.Time) (int, error) {
	return purgeExpired(ctx, s.kv, cutoff, func(r *jtiRecord) time.Time { return r.Until })
}
