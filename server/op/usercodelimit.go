package op

import (
	"sync"
	"time"
)

// Bounds of user_code guessing (CIBA Core 1.0 §7.1.2, §13).
const (
	// userCodeMaxFailures wrong user_codes within userCodeWindow for one
	// client and user start a cooling-off period of userCodeCooldown.
	userCodeMaxFailures = 5
	userCodeWindow      = 15 * time.Minute
	userCodeCooldown    = 15 * time.Minute
	// userCodeMaxEntries bounds the failure counters held in memory.
	userCodeMaxEntries = 10_000
)

// failureLimiter counts failures per key in a sliding window and locks a
// key out for a cooling-off period once it reaches the maximum. It holds
// at most maxEntries keys: when full it forgets the stale ones and then,
// if need be, the one whose window started first. It is safe for
// concurrent use.
type failureLimiter struct {
	max        int
	window     time.Duration
	cooldown   time.Duration
	maxEntries int

	mu      sync.Mutex
	entries map[string]*failures
}

type failures struct {
	n           int
	first       time.Time // start of the window
	lockedUntil time.Time
}

func newFailureLimiter(max int, window, cooldown time.Duration, maxEntries int) *failureLimiter {
	return &failureLimiter{max: max, window: window, cooldown: cooldown, maxEntries: maxEntries, entries: make(map[string]*failures)}
}

// locked reports whether key is in its cooling-off period at now.
func (l *failureLimiter) locked(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[key]
	return ok && now.Before(e.lockedUntil)
}

// fail records a failure of key at now and reports whether it started a
// cooling-off period.
func (l *failureLimiter) fail(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[key]
	if !ok {
		if len(l.entries) >= l.maxEntries {
			l.evict(now)
		}
		e = &failures{first: now}
		l.entries[key] = e
	}
	if !now.Before(e.first.Add(l.window)) && !now.Before(e.lockedUntil) {
		*e = failures{first: now}
	}
	e.n++
	if e.n >= l.max && !now.Before(e.lockedUntil) {
		e.lockedUntil = now.Add(l.cooldown)
		return true
	}
	return false
}

// succeed forgets the failures of key, unless it is locked out.
func (l *failureLimiter) succeed(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[key]; ok && !now.Before(e.lockedUntil) {
		delete(l.entries, key)
	}
}

// evict makes room: it drops the entries whose window and cooling-off are
// over, then, if none was, the entry whose window started first. Called
// with l.mu held.
func (l *failureLimiter) evict(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, e := range l.entries {
		if !now.Before(e.first.Add(l.window)) && !now.Before(e.lockedUntil) {
			delete(l.entries, k)
			continue
		}
		if oldest == "" || e.first.Before(oldestAt) {
			oldest, oldestAt = k, e.first
		}
	}
	if len(l.entries) >= l.maxEntries {
		delete(l.entries, oldest)
	}
}

// len returns how many keys are held.
func (l *failureLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
