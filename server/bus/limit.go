package bus

import (
	"crypto/sha256"
	"sync"
	"time"
)

// EnrollLimits bounds password guessing and flooding on the enrollment
// subject, which any connection may reach: token buckets, one for all
// attempts and one per user id, in front of the password check, and a
// lockout of a user id after consecutive wrong passwords. A refused
// attempt is answered with bad_credentials without checking the password.
// The state is in memory and bounded. Zero values are the defaults.
type EnrollLimits struct {
	// Burst is how many attempts, all user ids together, may arrive at
	// once; 0 means 20.
	Burst int
	// Interval is how often the global bucket gains one attempt; 0 means
	// 200 ms (5 attempts a second).
	Interval time.Duration
	// UserBurst is how many attempts for one user id may arrive at once;
	// 0 means 5.
	UserBurst int
	// UserInterval is how often a user id's bucket gains one attempt; 0
	// means 20 s.
	UserInterval time.Duration
	// MaxFailures is how many consecutive wrong passwords lock a user id;
	// 0 means 5.
	MaxFailures int
	// Lockout is how long the first lockout lasts; each wrong password
	// after it doubles it, up to MaxLockout. 0 means 1 minute.
	Lockout time.Duration
	// MaxLockout bounds a lockout; 0 means 1 hour.
	MaxLockout time.Duration
	// MaxUsers is how many user ids are tracked at once; when that many
	// are busy, attempts for new ones are refused. 0 means 10000.
	MaxUsers int
}

func (l *EnrollLimits) defaults() {
	setDefault(&l.Burst, 20)
	setDefault(&l.Interval, 200*time.Millisecond)
	setDefault(&l.UserBurst, 5)
	setDefault(&l.UserInterval, 20*time.Second)
	setDefault(&l.MaxFailures, 5)
	setDefault(&l.Lockout, time.Minute)
	setDefault(&l.MaxLockout, time.Hour)
	setDefault(&l.MaxUsers, 10000)
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

// userLimit is what is remembered about one user id.
type userLimit struct {
	bucket
	failures    int // consecutive wrong passwords
	lastFailure time.Time
	lockedUntil time.Time
}

// enrollLimiter applies EnrollLimits. Users are keyed by a hash of their
// id, so that long ids hold no more memory than short ones.
type enrollLimiter struct {
	lim    EnrollLimits
	mu     sync.Mutex
	global bucket
	users  map[[32]byte]*userLimit
}

func newEnrollLimiter(lim EnrollLimits) *enrollLimiter {
	lim.defaults()
	return &enrollLimiter{lim: lim, users: map[[32]byte]*userLimit{}}
}

// allow reports whether an attempt for user may have its password checked
// at now, and takes a token from both buckets if so; otherwise it says
// why not.
func (l *enrollLimiter) allow(user string, now time.Time) (bool, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := sha256.Sum256([]byte(user))
	u := l.users[key]
	if u == nil {
		if len(l.users) >= l.lim.MaxUsers {
			l.prune(now)
		}
		if len(l.users) >= l.lim.MaxUsers {
			return false, "too many user ids are being tried"
		}
		u = &userLimit{}
		l.users[key] = u
	}
	if now.Before(u.lockedUntil) {
		return false, "locked after repeated wrong passwords"
	}
	u.refill(now, l.lim.UserInterval)
	l.global.refill(now, l.lim.Interval)
	if u.used+1 > float64(l.lim.UserBurst) {
		return false, "too many attempts for this user"
	}
	if l.global.used+1 > float64(l.lim.Burst) {
		return false, "too many attempts"
	}
	u.used++
	l.global.used++
	return true, ""
}

// result records the outcome of a password check for user: a right
// password clears the failures, a wrong one counts and, from MaxFailures
// on, locks the user id for Lockout, doubled for each further failure. It
// returns how long the user id is now locked, 0 if it is not.
func (l *enrollLimiter) result(user string, ok bool, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.users[sha256.Sum256([]byte(user))]
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

// prune forgets the user ids that are neither locked nor recently tried:
// their bucket is full again and they have no failure from within
// MaxLockout.
func (l *enrollLimiter) prune(now time.Time) {
	for k, u := range l.users {
		u.refill(now, l.lim.UserInterval)
		if !now.Before(u.lockedUntil) && u.used == 0 && (u.failures == 0 || now.Sub(u.lastFailure) > l.lim.MaxLockout) {
			delete(l.users, k)
		}
	}
}
