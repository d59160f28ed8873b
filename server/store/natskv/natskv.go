package natskv

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cibalab/cibalab/server/internal/kvget"
	"github.com/cibalab/cibalab/server/store"
)

// Config configures a Store. Zero values are the
// documented defaults.
type Config struct {
	// Bucket is the key-value bucket; "" means "cibalab_requests_<Realm>".
	// A bucket name is made of letters, digits, '_' and '-'.
	Bucket string
	// Realm names the default bucket; "" means "master".
	Realm string
	// Replicas is the bucket's replica count on a clustered server; 0
	// means 1. Ignored when the bucket exists already.
	Replicas int
	// Storage is where the bucket keeps its data; the zero value is
	// jetstream.FileStorage, which survives a restart.
	Storage jetstream.StorageType
	// TTL, when a bucket is created, drops the keys not written for that
	// long; 0 keeps them until deleted. Only the lockout bucket uses it
	// (an hour by default).
	TTL time.Duration
	// MaxRetries bounds the attempts of one Update under contention; 0
	// means 100.
	MaxRetries int
	Logger     *slog.Logger
}

// Store is a store.Store on a NATS JetStream key-value bucket: requests
// survive a restart of the OP, and several OP replicas connected to one
// NATS server (or cluster) share them. Each request is one key, its value
// the JSON of the store.Request, and store.Request.Revision is the key's revision:
// Update writes with the revision it read (compare-and-swap) and retries
// on a conflict.
//
// List and DeleteExpired read every key of the bucket: their cost grows
// with the number of requests stored, which is fine for a mock OP whose
// requests expire within minutes.
type Store struct {
	kv         jetstream.KeyValue
	maxRetries int
	log        *slog.Logger
}

// New creates the bucket of cfg, or binds to it when it exists.
func New(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults("requests")
	cfg.TTL = 0 // only the lockout bucket has a TTL
	kv, err := openBucket(ctx, js, cfg, "pending CIBA authentication requests")
	if err != nil {
		return nil, err
	}
	return &Store{kv: kv, maxRetries: cfg.MaxRetries, log: cfg.Logger}, nil
}

// withDefaults fills the zero fields of cfg for the bucket of kind
// ("requests", "tokens", ...): "cibalab_<kind>_<Realm>", realm master,
// 100 retries, no logs.
func (cfg Config) withDefaults(kind string) Config {
	if cfg.Realm == "" {
		cfg.Realm = "master"
	}
	if cfg.Bucket == "" {
		cfg.Bucket = "cibalab_" + kind + "_" + cfg.Realm
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// openBucket binds to cfg.Bucket, creating it when it does not exist with
// cfg's replicas, storage and TTL (keys expire TTL after their last write;
// 0: never). History is 1: only the latest value of a key is needed.
func openBucket(ctx context.Context, js jetstream.JetStream, cfg Config, desc string) (jetstream.KeyValue, error) {
	if js == nil {
		return nil, fmt.Errorf("natskv: key-value bucket %q: no JetStream context", cfg.Bucket)
	}
	bucket, replicas := cfg.Bucket, cfg.Replicas
	if replicas <= 0 {
		replicas = 1
	}
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: bucket, Description: desc, History: 1, Replicas: replicas, Storage: cfg.Storage, TTL: cfg.TTL,
		})
		if errors.Is(err, jetstream.ErrBucketExists) { // another replica won the race
			kv, err = js.KeyValue(ctx, bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("natskv: key-value bucket %q: %w", bucket, err)
	}
	return readFromLeader(ctx, js, kv)
}

// readFromLeader turns off the direct reads of kv's stream, which any
// replica answers, possibly before it applied the latest writes: a
// request just created at the leader could then be "not found" at an OP
// that reads from a lagging replica. Reads go to the stream's leader, so
// an OP reads every write acknowledged before.
func readFromLeader(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue) (jetstream.KeyValue, error) {
	st, err := js.Stream(ctx, "KV_"+kv.Bucket())
	if err != nil {
		return nil, fmt.Errorf("natskv: key-value bucket %q: %w", kv.Bucket(), err)
	}
	cfg := st.CachedInfo().Config
	if !cfg.AllowDirect {
		return kv, nil
	}
	cfg.AllowDirect = false
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return nil, fmt.Errorf("natskv: key-value bucket %q: leader reads: %w", kv.Bucket(), err)
	}
	bound, err := js.KeyValue(ctx, kv.Bucket())
	if err != nil {
		return nil, fmt.Errorf("natskv: key-value bucket %q: %w", kv.Bucket(), err)
	}
	return bound, nil
}

// kvKey maps an ID to a key-value key. A key is made of letters, digits
// and "-/_=."; an ID made only of letters, digits, '-' and '_' (an
// auth_req_id is base64url) is its own key, any other ID is "=" followed
// by its unpadded base64url encoding. No plain key starts with '=', so the
// mapping is one to one.
func kvKey(id string) string {
	plain := id != ""
	for i := 0; i < len(id) && plain; i++ {
		c := id[i]
		plain = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
	}
	if plain {
		return id
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// Create implements Store.
func (s *Store) Create(ctx context.Context, r *store.Request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.ID == "" {
		return errors.New("natskv: request without ID")
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("natskv: encode request: %w", err)
	}
	if _, err := s.kv.Create(ctx, kvKey(r.ID), b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return store.ErrExists
		}
		return fmt.Errorf("natskv: create request: %w", err)
	}
	return nil
}

// Get implements Store.
func (s *Store) Get(ctx context.Context, id string) (*store.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.get(ctx, kvKey(id))
}

func (s *Store) get(ctx context.Context, key string) (*store.Request, error) {
	e, err := kvget.Get(ctx, s.kv, key)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, store.ErrNotFound
		}
		return nil, fmt.Errorf("natskv: get request: %w", err)
	}
	var r store.Request
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return nil, fmt.Errorf("natskv: decode request: %w", err)
	}
	r.Revision = e.Revision()
	return &r, nil
}

// Update implements Store. It reads the request, applies fn and writes
// the result only if the key's revision did not change; on a conflict it
// starts over, at most MaxRetries times, and gives up early when ctx is
// done.
func (s *Store) Update(ctx context.Context, id string, fn func(*store.Request) error) (*store.Request, error) {
	key := kvKey(id)
	for range s.maxRetries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cur, err := s.get(ctx, key)
		if err != nil {
			return nil, err
		}
		next := cur.Clone()
		if err := fn(next); err != nil {
			return nil, err
		}
		next.ID = cur.ID // the key cannot change
		b, err := json.Marshal(next)
		if err != nil {
			return nil, fmt.Errorf("natskv: encode request: %w", err)
		}
		rev, err := s.kv.Update(ctx, key, b, cur.Revision)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || isWrongLastSequence(err) {
			continue // changed meanwhile: read again
		}
		if err != nil {
			return nil, fmt.Errorf("natskv: update request: %w", err)
		}
		next.Revision = rev
		return next, nil
	}
	s.log.Warn("store.update_contention", "attempts", s.maxRetries, "detail", "the update gave up")
	return nil, fmt.Errorf("natskv: update request: still conflicting after %d attempts", s.maxRetries)
}

// List implements Store. It reads every request of the bucket.
func (s *Store) List(ctx context.Context, user string, status store.Status) ([]*store.Request, error) {
	all, err := s.all(ctx)
	if err != nil {
		return nil, err
	}
	var out []*store.Request
	for _, r := range all {
		if (user == "" || r.User == user) && r.Status == status {
			out = append(out, r)
		}
	}
	store.SortOldestFirst(out)
	return out, nil
}

// ListExpired implements Store. It reads every request of the bucket.
func (s *Store) ListExpired(ctx context.Context, status store.Status, now time.Time) ([]*store.Request, error) {
	all, err := s.all(ctx)
	if err != nil {
		return nil, err
	}
	var out []*store.Request
	for _, r := range all {
		if r.Status == status && r.Expired(now) {
			out = append(out, r)
		}
	}
	store.SortOldestFirst(out)
	return out, nil
}

// DeleteExpired implements Store. It reads every request of the bucket and
// purges an expired one only at the revision it read, so a request
// updated meanwhile is left for the next sweep; then it drops the purge
// markers older than a minute, so removed requests leave nothing behind.
func (s *Store) DeleteExpired(ctx context.Context, cutoff time.Time) (int, error) {
	all, err := s.all(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range all {
		if !r.ExpiresAt.Before(cutoff) {
			continue
		}
		// Purged, not deleted: no marker is left behind for the key. A
		// request changed since read is left for the next sweep.
		ok, err := purgeAt(ctx, s.kv, kvKey(r.ID), r.Revision)
		if err != nil {
			return n, fmt.Errorf("natskv: delete request: %w", err)
		}
		if ok {
			n++
		}
	}
	return n, purgeMarkers(ctx, s.kv)
}

// all returns every request of the bucket, in no particular order. A key
// deleted between listing and reading is skipped.
func (s *Store) all(ctx context.Context) ([]*store.Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	keys, err := listKeys(ctx, s.kv)
	if err != nil {
		return nil, err
	}
	out := make([]*store.Request, 0, len(keys))
	for _, k := range keys {
		r, err := s.get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// listKeys returns the keys of kv that are not deleted.
func listKeys(ctx context.Context, kv jetstream.KeyValue) ([]string, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("natskv: list keys: %w", err)
	}
	defer lister.Stop()
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return keys, nil
}

// isWrongLastSequence reports whether err is JetStream's compare-and-swap
// conflict, whichever way it is reported.
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
