package store

import (
	"context"
	"sync"
	"time"
)

// LockoutRule says when failures lock a key out: Max failures within
// Window start a cooling-off period of Cooldown.
type LockoutRule struct {
	Max      int
	Window   time.Duration
	Cooldown time.Duration
}

// Failures is the record of one key's failures.
type Failures struct {
	// N counts the failures since First, the start of the window.
	N     int
	First time.Time
	// LockedUntil is the end of the cooling-off period; zero when none.
	LockedUntil time.Time `json:",omitzero"`
	// Until is when the record may be forgotten: its window and its
	// cooling-off period are both over.
	Until time.Time
}

// Locked reports whether the key is in its cooling-off period at now.
func (f *Failures) Locked(now time.Time) bool { return now.Before(f.LockedUntil) }

// Fail records a failure at now under rule and reports whether it started
// a cooling-off period. A failure after the window and any cooling-off
// starts a new window.
func (f *Failures) Fail(now time.Time, rule LockoutRule) bool {
	if f.First.IsZero() || (!now.Before(f.First.Add(rule.Window)) && !now.Before(f.LockedUntil)) {
		*f = Failures{First: now}
	}
	f.N++
	started := false
	if f.N >= rule.Max && !now.Before(f.LockedUntil) {
		f.LockedUntil = now.Add(rule.Cooldown)
		started = true
	}
	f.Until = f.First.Add(rule.Window)
	if f.LockedUntil.After(f.Until) {
		f.Until = f.LockedUntil
	}
	return started
}

// LockoutStore counts failures per key (wrong user_codes of a client and
// user, CIBA Core 1.0 §7.1.2) and locks a key out once they reach a rule's
// maximum. OPs sharing one store share the counts: a guesser spreading
// tries over them gets no more. Implementations are safe for concurrent
// use.
type LockoutStore interface {
	// Locked reports whether key is locked out at now.
	Locked(ctx context.Context, key string, now time.Time) (bool, error)
	// Fail records a failure of key at now (Failures.Fail) and reports
	// whether it started a cooling-off period. Concurrent failures are
	// all counted.
	Fail(ctx context.Context, key string, now time.Time, rule LockoutRule) (bool, error)
	// Succeed forgets the failures of key, unless it is locked out.
	Succeed(ctx context.Context, key string, now time.Time) error
	// DeleteExpiredLockouts forgets the records whose Until is before
	// cutoff and returns how many it forgot.
	DeleteExpiredLockouts(ctx context.Context, cutoff time.Time) (int, error)
}

// LockoutMemory is a LockoutStore held in process memory, for one OP. The
// zero value is not usable; call NewLockoutMemory.
type LockoutMemory struct {
	mu sync.Mutex
	m  map[string]*Failures
}

// NewLockoutMemory returns an empty in-memory lockout store.
func NewLockoutMemory() *LockoutMemory { return &LockoutMemory{m: make(map[string]*Failures)} }

var _ LockoutStore = (*LockoutMemory)(nil)

// Locked implements LockoutStore.
func (l *LockoutMemory) Locked(ctx context.Context, key string, now time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[key]
	return ok && f.Locked(now), nil
}

// Fail implements LockoutStore.
func (l *LockoutMemory) Fail(ctx context.Context, key string, now time.Time, rule LockoutRule) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.m[key]
	if !ok {
		f = &Failures{}
		l.m[key] = f
	}
	return f.Fail(now, rule), nil
}

// Succeed implements LockoutStore.
func (l *LockoutMemory) Succeed(ctx context.Context, key string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.m[key]; ok && !f.Locked(now) {
		delete(l.m, key)
	}
	return nil
}

// DeleteExpiredLockouts implements LockoutStore.
func (l *LockoutMemory) DeleteExpiredLockouts(ctx context.Context, cutoff time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, f := range l.m {
		if f.Until.Before(cutoff) {
			delete(l.m, k)
			n++
		}
	}
	return n, nil
}
