package op

import (
	"errors"
	"sync"
	"time"
)

// defaultJTICapacity bounds the jti cache: enough for every client JWT of a
// busy test run within the longest accepted lifetime.
const defaultJTICapacity = 100_000

var (
	errReplay   = errors.New("jti has been used before")
	errJTIsFull = errors.New("too many JWTs in flight; try again later")
)

// jtiCache remembers the jti of each client JWT until the JWT expires, so a
// replay is refused (RFC 7519 §4.1.7, RFC 7523 §3 item 7, CIBA Core 1.0
// §7.1.1). It is bounded: when it is full of unexpired entries it refuses
// new ones rather than forget one that could then be replayed. It is safe
// for concurrent use.
type jtiCache struct {
	mu       sync.Mutex
	capacity int
	seen     map[string]time.Time // key -> expiry
}

func newJTICache(capacity int) *jtiCache {
	if capacity <= 0 {
		capacity = defaultJTICapacity
	}
	return &jtiCache{capacity: capacity, seen: make(map[string]time.Time)}
}

// use records key until expiry. It fails with errReplay when key is
// recorded and unexpired at now, and with errJTIsFull when the cache holds
// capacity unexpired keys.
func (c *jtiCache) use(key string, expiry, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, ok := c.seen[key]; ok && now.Before(exp) {
		return errReplay
	}
	if len(c.seen) >= c.capacity {
		for k, exp := range c.seen {
			if !now.Before(exp) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= c.capacity {
			return errJTIsFull
		}
	}
	c.seen[key] = expiry
	return nil
}

// len returns how many keys are recorded, expired or not.
func (c *jtiCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
