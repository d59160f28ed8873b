package optest

import (
	"sync"
	"time"
)

// pollThrottle is the OP's op.Config.Throttle: it refuses the next n token
// requests, each with its Retry-After, in order.
type pollThrottle struct {
	mu    sync.Mutex
	queue []time.Duration // Retry-After of each request still to refuse
}

// add queues n refusals with retryAfter.
func (t *pollThrottle) add(n int, retryAfter time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for range n {
		t.queue = append(t.queue, retryAfter)
	}
}

// hook returns the op.Config.Throttle that applies the queued refusals,
// then asks next (nil for none).
func (t *pollThrottle) hook(next func(string) (time.Duration, bool)) func(string) (time.Duration, bool) {
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

// ThrottleNextPolls makes the OP refuse the next n token requests with
// 503 temporarily_unavailable and a Retry-After header of retryAfter,
// rounded up to whole seconds and at least 1, as CIBA Core 1.0 §11 lets an
// OP under heavy load do: use it to test a client's handling of
// Retry-After. Only requests whose client authenticates count, whatever
// their grant or client; a refused poll changes nothing at the OP (it is
// not recorded and leads to no slow_down). Several calls add up, each
// refusal with its own retryAfter, in order. A Throttle set with
// ProviderConfig is asked only once these refusals are used up.
func (s *Server) ThrottleNextPolls(n int, retryAfter time.Duration) {
	s.throttle.add(n, retryAfter)
}
