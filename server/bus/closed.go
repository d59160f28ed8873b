package bus

import (
	"encoding/json"
	"sync"
	"time"

	"cibalab/shared/channel"
	"cibalab/shared/oauth"
)

// maxOpen bounds the announced requests remembered for closing; beyond it
// the oldest is forgotten (its devices then drop its card at expires_at).
const maxOpen = 10000

// openRequest is an announced request that may still close.
type openRequest struct {
	id, user  string
	expiresAt time.Time
	added     time.Time
}

// openRequests remembers the announced requests by their oauth.ReqRef
// (the events name requests so), so that their devices can be told when
// they close.
type openRequests struct {
	mu sync.Mutex
	m  map[string]openRequest
}

func (o *openRequests) add(req channel.AuthRequest, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.m) >= maxOpen {
		var oldest string
		var at time.Time
		for k, v := range o.m {
			if oldest == "" || v.added.Before(at) {
				oldest, at = k, v.added
			}
		}
		delete(o.m, oldest)
	}
	o.m[oauth.ReqRef(req.AuthReqID)] = openRequest{id: req.AuthReqID, user: req.User, expiresAt: time.Unix(req.ExpiresAt, 0), added: now}
}

// take forgets and returns the open request ref of user.
func (o *openRequests) take(ref, user string) (openRequest, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.m[ref]
	if !ok || r.user != user {
		return openRequest{}, false
	}
	delete(o.m, ref)
	return r, true
}

// expired forgets and returns the open requests expired at now.
func (o *openRequests) expired(now time.Time) []openRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []openRequest
	for k, r := range o.m {
		if !now.Before(r.expiresAt) {
			out = append(out, r)
			delete(o.m, k)
		}
	}
	return out
}

// publishClosed tells the devices of user that the request authReqID no
// longer waits for a decision (channel.RequestClosed), so that each takes
// its card off the screen. Best effort: a device that misses it drops the
// card at expires_at, or when the pending list it asks after a reconnect
// no longer holds it.
func (r *Responder) publishClosed(authReqID, user, reason, deviceID string) {
	b, err := json.Marshal(channel.RequestClosed{Version: channel.Version, Type: channel.RequestClosedType,
		AuthReqID: authReqID, User: user, Reason: reason, DeviceID: deviceID})
	if err != nil {
		return
	}
	if err := r.cfg.Conn.Publish(channel.UserRequestsSubject(r.cfg.Realm, user), b); err != nil {
		r.log.Warn("request.closed not published", "req", oauth.ReqRef(authReqID), "err", err)
	}
}

// closeExpired tells devices about the announced requests that expired
// at now without being closed otherwise.
func (r *Responder) closeExpired(now time.Time) {
	for _, o := range r.open.expired(now) {
		r.publishClosed(o.id, o.user, channel.ClosedExpired, "")
	}
}
