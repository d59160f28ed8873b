package optest

import (
	"time"
)

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
	s.throttle.Add(n, retryAfter)
}
