package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrReplay is returned by [JTIStore.UseJTI] for a key recorded before and
// not expired yet.
var ErrReplay = errors.New("store: jti used before")

// JTIStore remembers the identifiers of single-use JWTs (client
// assertions, signed request objects: RFC 7519 §4.1.7, RFC 7523 §3,
// CIBA Core 1.0 §7.1.1) until they expire, so that one presented again,
// to any OP sharing the store, is refused. Implementations are safe for
// concurrent use.
type JTIStore interface {
	// UseJTI records key until expiry. It fails with ErrReplay when key
	// is recorded and unexpired at now; of two concurrent calls with one
	// key, at most one succeeds.
	UseJTI(ctx context.Context, key string, expiry, now time.Time) error
	// DeleteExpiredJTIs forgets the keys expired before cutoff and
	// returns how many it forgot.
	DeleteExpiredJTIs(ctx context.Context, cutoff time.Time) (int, error)
}

// JTIMemory is a JTIStore held in process memory, for one OP. The zero
// value is not usable; call NewJTIMemory.
type JTIMemory struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// NewJTIMemory returns an empty in-memory jti store.
func NewJTIMemory() *JTIMemory { return &JTIMemory{seen: make(map[string]time.Time)} }

var _ JTIStore = (*JTIMemory)(nil)

// UseJTI implements JTIStore.
func (m *JTIMemory) UseJTI(ctx context.Context, key string, expiry, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if until, ok := m.seen[key]; ok && now.Before(until) {
		return ErrReplay
	}
	m.seen[key] = expiry
	return nil
}

// DeleteExpiredJTIs implements JTIStore.
func (m *JTIMemory) DeleteExpiredJTIs(ctx context.Context, cutoff time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, until := range m.seen {
		if until.Before(cutoff) {
			delete(m.seen, k)
			n++
		}
	}
	return n, nil
}
