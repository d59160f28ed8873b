package faults

import (
	"sync"
	"time"
)

// Throttle refuses the next token requests, each with its Retry-After, in
// order (CIBA Core 1.0 §11 lets an OP under heavy load answer 503). Its
// zero value refuses nothing; it is safe for concurrent use.
type Throttle struct {
	mu    sync.Mutex
	queue []time.Duration // Retry-After of each request still to refuse
}

// Add queues n refusals with retryAfter.
func (t *Throttle) Add(n int, retryAfter time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for range n {
		t.queue = append(t.queue, retryAfter)
	}
}

// Queued is the number of refusals not yet applied.
func (t *Throttle) Queued() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue)
}

// Hook returns an op.Config.Throttle that applies the queued refusals,
// then asks next (nil for none).
func (t *Throttle) Hook(next func(string) (time.Duration, bool)) func(string) (time.Duration, bool) {
	return func(clientID string) (time.Duration, bool) {
		t.mu.Lock()
		if len(t.queue) > 0 {
			d := t.queue[0]
			t.queue = t.queue[1:]
			t.mu.Unlock()
			return d, true
		}
		t.mu.Unlock()
		if next != nil {
			return next(clientID)
		}
		return 0, false
	}
}
