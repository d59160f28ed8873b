package bus

import (
	"crypto/sha256"
	"sync"
	"time"
)

// EnrollLimits bounds password guessing and flooding on the enrollment
// subjects, which any connection may reach: a token bucket for the nkeys
// admitted to enroll (tickets), a token bucket for all password checks,
// and a lockout per user id and source after consecutive wrong passwords.
// The source is the nkey the enrolling connection authenticated with.
// Locking a user id for everyone would let anyone keep that user from
// enrolling; locking per source never blocks the user's own device, and
// the buckets bound how fast new sources can be tried (see
// docs/architecture.md). A refused attempt is answered with
// bad_credentials without checking the password. The state is in memory
// and bounded. Zero values are the defaults.
type EnrollLimits struct {
	// Burst is how many password checks, all user ids together, may
	// happen at once; 0 means 20.
	Burst int
	// Interval is how often the password-check bucket gains one; 0 means
	// 200 ms (5 a second).
	Interval time.Duration
	// TicketBurst is how many nkeys may be admitted to enroll at once; 0
	// means 20.
	TicketBurst int
	// TicketInterval is how often the ticket bucket gains one; 0 means
	// 500 ms (2 a second).
	TicketInterval time.Duration
	// TicketTTL is how long an admitted nkey may enroll; 0 means 1 minute.
	TicketTTL time.Duration
	// MaxTickets is how many nkeys may be admitted at once; 0 means 256.
	MaxTickets int
	// MaxFailures is how many consecutive wrong passwords from one source
	// lock that source out of one user id; 0 means 5.
	MaxFailures int
	// Lockout is how long the first lockout lasts; each wrong password
	// after it doubles it, up to MaxLockout. 0 means 1 minute.
	Lockout time.Duration
	// MaxLockout bounds a lockout; 0 means 1 hour.
	MaxLockout time.Duration
	// MaxSources is how many (user id, source) pairs are tracked at once;
	// when that many are busy, attempts from new ones are refused. 0
	// means 10000.
	MaxSources int
}

func (l *EnrollLimits) defaults() {
	setDefault(&l.Burst, 20)
	setDefault(&l.Interval, 200*time.Millisecond)
	setDefault(&l.TicketBurst, 20)
	setDefault(&l.TicketInterval, 500*time.Millisecond)
	setDefault(&l.TicketTTL, time.Minute)
	setDefault(&l.MaxTickets, 256)
	setDefault(&l.MaxFailures, 5)
	setDefault(&l.Lockout, time.Minute)
	setDefault(&l.MaxLockout, time.Hour)
	setDefault(&l.MaxSources, 10000)
}

func setDefault[T int | time.Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

// bucket is a token bucket; a zero bucket is full.
type bucket struct {
	used float64 // tokens taken and not yet refilled
	last time.Time
}

// refill returns the tokens taken at now.
func (b *bucket) refill(now time.Time, interval time.Duration) {
	if !b.last.IsZero() && now.After(b.last) {
		b.used -= float64(now.Sub(b.last)) / float64(interval)
		if b.used < 0 {
			b.used = 0
		}
	}
	b.last = now
}

// take takes a token at now if the bucket has one.
func (b *bucket) take(now time.Time, burst int, interval time.Duration) bool {
	b.refill(now, interval)
	if b.used+1 > float64(burst) {
		return false
	}
	b.used++
	return true
}

// sourceLimit is what is remembered about one (user id, source) pair.
type sourceLimit struct {
	failures    int // consecutive wrong passwords
	lastFailure time.Time
	lockedUntil time.Time
}

// enrollLimiter applies EnrollLimits. Pairs are keyed by a hash, so that
// long ids hold no more memory than short ones.
type enrollLimiter struct {
	lim     EnrollLimits
	mu      sync.Mutex
	global  bucket
	tickets bucket
	sources map[[32]byte]*sourceLimit
}

func newEnrollLimiter(lim EnrollLimits) *enrollLimiter {
	lim.defaults()
	return &enrollLimiter{lim: lim, sources: map[[32]byte]*sourceLimit{}}
}

func pairKey(user, source string) [32]byte {
	return sha256.Sum256([]byte(user + "\x00" + source))
}

// ticket reports whether one more nkey may be admitted to enroll at now.
func (l *enrollLimiter) ticket(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tickets.take(now, l.lim.TicketBurst, l.lim.TicketInterval)
}

// allow reports whether an attempt for user from source may have its
// password checked at now, and takes a token from the global bucket if
// so; otherwise it says why not.
func (l *enrollLimiter) allow(user, source string, now time.Time) (bool, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := pairKey(user, source)
	u := l.sources[key]
	if u == nil {
		if len(l.sources) >= l.lim.MaxSources {
			l.prune(now)
		}
		if len(l.sources) >= l.lim.MaxSources {
			return false, "too many sources are being tried"
		}
		u = &sourceLimit{}
		l.sources[key] = u
	}
	if now.Before(u.lockedUntil) {
		return false, "this source is locked after repeated wrong passwords"
	}
	if !l.global.take(now, l.lim.Burst, l.lim.Interval) {
		return false, "too many attempts"
	}
	return true, ""
}

// result records the outcome of a password check for user from source: a
// right password clears the failures, a wrong one counts and, from
// MaxFailures on, locks the pair for Lockout, doubled for each further
// failure. It returns how long the pair is now locked, 0 if it is not.
func (l *enrollLimiter) result(user, source string, ok bool, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.sources[pairKey(user, source)]
	if u == nil {
		return 0
	}
	if ok {
		u.failures, u.lockedUntil = 0, time.Time{}
		return 0
	}
	u.failures++
	u.lastFailure = now
	if n := u.failures - l.lim.MaxFailures; n >= 0 {
		d := l.lim.MaxLockout
		if n < 30 {
			d = min(l.lim.Lockout<<n, l.lim.MaxLockout)
		}
		if d <= 0 { // overflow
			d = l.lim.MaxLockout
		}
		u.lockedUntil = now.Add(d)
		return d
	}
	return 0
}

// prune forgets the pairs that are neither locked nor failed within
// MaxLockout.
func (l *enrollLimiter) prune(now time.Time) {
	for k, u := range l.sources {
		if !now.Before(u.lockedUntil) && (u.failures == 0 || now.Sub(u.lastFailure) > l.lim.MaxLockout) {
			delete(l.sources, k)
		}
	}
}
