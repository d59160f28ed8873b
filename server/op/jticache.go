package op

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/cibalab/cibalab/server/store"
)

// defaultJTICapacity bounds the jti cache: enough for every client JWT of a
// busy test run within the longest accepted lifetime.
// defaultJTIPerClient bounds the share of one client, so that a client
// cannot fill the cache and lock the others out.
const (
	defaultJTICapacity  = 100_000
	defaultJTIPerClient = 1_000
)

var (
	errReplay         = errors.New("jti has been used before")
	errJTIsFull       = errors.New("too many JWTs in flight; try again later")
	errJTIsClientFull = errors.New("too many JWTs of this client in flight; try again later")
)

// jtiCache remembers the jti of each client JWT until the JWT expires, so a
// replay is refused (RFC 7519 §4.1.7, RFC 7523 §3 item 7, CIBA Core 1.0
// §7.1.1). It is bounded, overall and per client: when a client holds its
// share of unexpired entries, or the cache is full of them, new ones are
// refused rather than an entry forgotten that could then be replayed.
// Expired entries leave in expiry order (a min-heap), so an insert costs
// O(log n) however full the cache is. It is safe for concurrent use.
type jtiCache struct {
	mu        sync.Mutex
	capacity  int
	perClient int
	seen      map[string]time.Time // key -> expiry
	perCount  map[string]int       // client -> entries
	byExpiry  jtiHeap
}

// newJTICache returns a cache holding at most capacity entries, at most
// perClient of them for one client; 0 means the defaults.
func newJTICache(capacity, perClient int) *jtiCache {
	if capacity <= 0 {
		capacity = defaultJTICapacity
	}
	if perClient <= 0 {
		perClient = defaultJTIPerClient
	}
	return &jtiCache{capacity: capacity, perClient: perClient, seen: make(map[string]time.Time), perCount: make(map[string]int)}
}

// use records key, a jti of client, until expiry. It fails with errReplay
// when key is recorded and unexpired at now, with errJTIsClientFull when
// client holds perClient unexpired keys, and with errJTIsFull when the
// cache holds capacity unexpired keys.
func (c *jtiCache) use(client, key string, expiry, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if _, ok := c.seen[key]; ok {
		return errReplay
	}
	if c.perCount[client] >= c.perClient {
		return errJTIsClientFull
	}
	if len(c.seen) >= c.capacity {
		return errJTIsFull
	}
	c.seen[key] = expiry
	c.perCount[client]++
	heap.Push(&c.byExpiry, jtiEntry{key: key, client: client, expiry: expiry})
	return nil
}

// expire drops the entries expired at now. Called with c.mu held.
func (c *jtiCache) expire(now time.Time) {
	for len(c.byExpiry) > 0 && !now.Before(c.byExpiry[0].expiry) {
		e := heap.Pop(&c.byExpiry).(jtiEntry)
		delete(c.seen, e.key)
		if c.perCount[e.client]--; c.perCount[e.client] <= 0 {
			delete(c.perCount, e.client)
		}
	}
}

// len returns how many keys are recorded, expired or not.
func (c *jtiCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// jtiEntry is one recorded key; jtiHeap orders them by expiry
// (container/heap).
type jtiEntry struct {
	key, client string
	expiry      time.Time
}

type jtiHeap []jtiEntry

func (h jtiHeap) Len() int           { return len(h) }
func (h jtiHeap) Less(i, j int) bool { return h[i].expiry.Before(h[j].expiry) }
func (h jtiHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *jtiHeap) Push(x any)        { *h = append(*h, x.(jtiEntry)) }
func (h *jtiHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = jtiEntry{}
	*h = old[:len(old)-1]
	return e
}

// sharedJTITimeout bounds one look-up in the shared jti store.
const sharedJTITimeout = 5 * time.Second

// errJTIsUnavailable is returned when the shared jti store cannot be
// asked: a JWT that cannot be checked for replay is refused.
var errJTIsUnavailable = errors.New("the replay check is unavailable; try again later")

// useJTI records key, a jti of client, until expiry: in the OP's own
// bounded cache and then, when Config.JTIs is set, in the store shared by
// every replica, so that a JWT used at one OP is refused at the others
// (RFC 7519 §4.1.7, RFC 7523 §3 item 7, CIBA Core 1.0 §7.1.1).
func (p *Provider) useJTI(client, key string, expiry, now time.Time) error {
	if err := p.jtis.use(client, key, expiry, now); err != nil {
		return err
	}
	if p.cfg.JTIs == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedJTITimeout)
	defer cancel()
	switch err := p.cfg.JTIs.UseJTI(ctx, key, expiry, now); {
	case errors.Is(err, store.ErrReplay):
		return errReplay
	case err != nil:
		p.cfg.Logger.Error("jti.store_failed", "client_id", client, "err", err)
		return errJTIsUnavailable
	}
	return nil
}
