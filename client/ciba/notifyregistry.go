package ciba

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
)

// subscription is one pending request waiting for its notification.
type subscription struct {
	mode oauth.DeliveryMode
	ch   chan *Notification
	// authReqID is the request's auth_req_id; "" until the
	// acknowledgement gives it.
	authReqID string
	// expires is when the request expires, by the server's clock; zero
	// until the acknowledgement gives its lifetime.
	expires time.Time
}

// expired reports whether the request of sub has expired at now.
func (sub *subscription) expired(now time.Time) bool {
	return !sub.expires.IsZero() && !now.Before(sub.expires)
}

// NewNotificationToken returns a fresh client_notification_token
// (CIBA Core 1.0 §7.1): 256 random bits, base64url, within the b64token
// syntax of RFC 6750 §2.1 and far below 1024 characters.
func NewNotificationToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func tokenKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// expect registers token for one request in mode; notifications carrying
// it are queued until forget, or until the request expires (see
// expireAfter). Registrations of expired requests are dropped here, so a
// caller that never calls Wait or Cancel does not leak them.
func (s *NotificationServer) expect(token string, mode oauth.DeliveryMode) *subscription {
	sub := &subscription{mode: mode, ch: make(chan *Notification, 8)}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, old := range s.subs {
		if old.expired(now) {
			delete(s.subs, k)
		}
	}
	s.subs[tokenKey(token)] = sub
	return sub
}

// acknowledged completes token's registration with the acknowledgement
// (CIBA Core 1.0 §7.3): the request's auth_req_id, and its lifetime,
// expires_in from now by the server's clock. After it, notifications
// carrying token are refused, and so are those naming another auth_req_id.
func (s *NotificationServer) acknowledged(token, authReqID string, lifetime time.Duration) {
	expires := s.cfg.Now().Add(lifetime)
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub := s.subs[tokenKey(token)]; sub != nil {
		sub.authReqID, sub.expires = authReqID, expires
	}
}

// lookup returns the registration of token and its auth_req_id ("" while
// unacknowledged), or nil when there is none or its request has expired
// (an expired one is dropped).
func (s *NotificationServer) lookup(token string) (*subscription, string) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tokenKey(token)
	sub := s.subs[k]
	if sub == nil {
		return nil, ""
	}
	if sub.expired(now) {
		delete(s.subs, k)
		return nil, ""
	}
	return sub, sub.authReqID
}

// forget stops accepting token.
func (s *NotificationServer) forget(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, tokenKey(token))
}
