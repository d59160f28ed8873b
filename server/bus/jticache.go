package bus

import (
	"crypto/sha256"
	"time"

	"github.com/cibalab/cibalab/shared/channel"
)

// jtiEntry is what the OP remembers of a decision's jti: the device and
// the hash of the JWT that used it, and, once settled, the answer given.
type jtiEntry struct {
	device  string
	token   [32]byte
	until   time.Time // when it may be forgotten
	settled bool
	result  channel.DecisionResult
}

// jtiExpiry is a jti and when it may be forgotten, in the order recorded.
type jtiExpiry struct {
	jti   string
	until time.Time
}

// jtiCache remembers the jtis of the decisions for a fixed lifetime, so
// that a replayed decision is refused (CIBA Core 1.0 §8; RFC 7519 §4.1.7).
// Every entry lives the same lifetime from when it is recorded, so the
// order of recording is the order of expiry: the expiries wait in a queue
// and each use forgets the expired ones from its head, in O(1) amortised
// time whatever the size of the cache. The cache holds at most the jtis
// recorded within one lifetime (the per-device limits bound their rate).
// The caller holds a lock around every call.
type jtiCache struct {
	lifetime time.Duration
	m        map[string]*jtiEntry
	queue    []jtiExpiry // oldest first, from head
	head     int
}

func newJTICache(lifetime time.Duration) jtiCache {
	return jtiCache{lifetime: lifetime, m: map[string]*jtiEntry{}}
}

// use records jti for the decision token of device at now and returns its
// entry. resent is true when the same device already sent this very
// token: it is answered as before (idempotent). A jti already used by
// another token or device returns nil: a replay.
func (c *jtiCache) use(jti, device string, sum [32]byte, now time.Time) (e *jtiEntry, resent bool) {
	c.forget(now)
	if e, seen := c.m[jti]; seen {
		if e.device == device && e.token == sum {
			return e, true
		}
		return nil, false
	}
	e = &jtiEntry{device: device, token: sum, until: now.Add(c.lifetime)}
	c.m[jti] = e
	c.queue = append(c.queue, jtiExpiry{jti: jti, until: e.until})
	return e, false
}

// forget drops the entries expired at now from the head of the queue. An
// entry recorded under a clock that went back waits behind those recorded
// before it: it is kept longer, never forgotten early.
func (c *jtiCache) forget(now time.Time) {
	for c.head < len(c.queue) && now.After(c.queue[c.head].until) {
		delete(c.m, c.queue[c.head].jti)
		c.queue[c.head] = jtiExpiry{}
		c.head++
	}
	// Reuse the queue's space once its dead head is the larger part.
	if c.head > 64 && c.head*2 >= len(c.queue) {
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue = c.queue[:n]
		c.head = 0
	}
}

// len is the number of jtis remembered.
func (c *jtiCache) len() int { return len(c.m) }

// useJTI records jti for the decision token of device (see jtiCache.use).
func (r *Responder) useJTI(jti, device, token string, now time.Time) (e *jtiEntry, resent bool) {
	sum := sha256.Sum256([]byte(token))
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.jtis.use(jti, device, sum, now)
}

// settleJTI records the answer given to a decision, for its resends.
func (r *Responder) settleJTI(e *jtiEntry, res channel.DecisionResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.settled, e.result = true, res
}
