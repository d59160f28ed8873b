package op

import (
	"context"
	"net/http"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
)

// defaultMaxConcurrentTokenRequests is the bound on token requests in
// flight when Config.MaxConcurrentTokenRequests is 0.
const defaultMaxConcurrentTokenRequests = 64

// gate bounds how many requests an endpoint handles at once. It is a
// semaphore that never blocks: a request that finds every slot taken is
// refused at once. A gate with nil slots admits everything.
type gate struct {
	slots chan struct{}
}

// newGate returns a gate of n slots: 0 means
// defaultMaxConcurrentTokenRequests, a negative n means no bound.
func newGate(n int) *gate {
	switch {
	case n < 0:
		return &gate{}
	case n == 0:
		n = defaultMaxConcurrentTokenRequests
	}
	return &gate{slots: make(chan struct{}, n)}
}

// tryAcquire takes a slot without waiting; it reports false when every
// slot is taken. A true answer must be followed by one release.
func (g *gate) tryAcquire() bool {
	if g.slots == nil {
		return true
	}
	select {
	case g.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// release gives back a slot taken by tryAcquire.
func (g *gate) release() {
	if g.slots != nil {
		<-g.slots
	}
}

// limitTokenConcurrency lets at most Config.MaxConcurrentTokenRequests
// token requests through at once. Beyond that it answers 503
// temporarily_unavailable with Retry-After: 1, which CIBA Core 1.0 §11
// allows the OP under heavy load, before the body is read or any state is
// touched, so a client that retries later loses nothing.
func (p *Provider) limitTokenConcurrency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.tokenGate.tryAcquire() {
			p.log.Warn("endpoint.refused", "endpoint", EndpointToken, "error", oauth.ErrTemporarilyUnavailable,
				"status", http.StatusServiceUnavailable, "description", "too many token requests in flight")
			noteError(w, oauth.ErrTemporarilyUnavailable)
			writeError(w, unavailable(1, "too many requests in flight; retry later"))
			return
		}
		if p.cfg.LongPoll > 0 {
			// A held poll gives its slot back while it waits (longpoll.go).
			slot := &tokenSlot{g: p.tokenGate, held: true}
			defer slot.free()
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenSlotKey{}, slot)))
			return
		}
		defer p.tokenGate.release()
		next.ServeHTTP(w, r)
	})
}

// throttle consults Config.Throttle for an authenticated client and
// returns the 503 temporarily_unavailable error it asks for
// (CIBA Core 1.0 §11), or nil.
func (p *Provider) throttle(clientID string) error {
	if p.cfg.Throttle == nil {
		return nil
	}
	d, throttled := p.cfg.Throttle(clientID)
	if !throttled {
		return nil
	}
	return unavailable(retryAfterSeconds(d), "the token endpoint is throttled; retry later")
}

// retryAfterSeconds rounds d up to whole seconds, at least 1, for a
// Retry-After header (RFC 9110 §10.2.3 counts it in seconds).
func retryAfterSeconds(d time.Duration) int {
	if d <= time.Second {
		return 1
	}
	s := d / time.Second
	if d%time.Second != 0 {
		s++
	}
	return int(s)
}

// unavailable is a 503 temporarily_unavailable error of the token
// endpoint with Retry-After seconds (CIBA Core 1.0 §11).
func unavailable(retryAfter int, description string) *oauth.Error {
	e := oauth.TokenError(oauth.ErrTemporarilyUnavailable, description)
	e.RetryAfter = retryAfter
	return e
}
