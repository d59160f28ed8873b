package bus

import (
	"encoding/json"
	"sync"
	"time"
	"unique"

	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// maxOpen bounds the announced requests remembered for closing; beyond it
// the oldest is forgotten (its devices then drop its card at expires_at).
const maxOpen = 10000

// openRequest is an announced request that may still close.
type openRequest struct {
	id        string
	user      unique.Handle[string] // one copy of each user id
	expiresAt int64                 // Unix seconds, as announced
	seq       uint64                // its place in the order of announcement
}

// openKey is an announced request in the order of announcement.
type openKey struct {
	ref string
	seq uint64
}

// openRequests remembers the announced requests by their oauth.ReqRef
// (the events name requests so), so that their devices can be told when
// they close. Beyond maxOpen the oldest announced is forgotten: the
// order of announcement waits in a queue whose entries for requests
// already closed are skipped, so adding one costs O(1) amortised.
type openRequests struct {
	mu    sync.Mutex
	m     map[string]openRequest
	order []openKey // oldest first, from head
	head  int
	seq   uint64
}

func (o *openRequests) add(req channel.AuthRequest) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ref := oauth.ReqRef(req.AuthReqID)
	for len(o.m) >= maxOpen && o.head < len(o.order) {
		k := o.order[o.head]
		o.order[o.head] = openKey{}
		o.head++
		if r, ok := o.m[k.ref]; ok && r.seq == k.seq {
			delete(o.m, k.ref)
		}
	}
	o.seq++
	o.m[ref] = openRequest{id: req.AuthReqID, user: unique.Make(req.User), expiresAt: req.ExpiresAt, seq: o.seq}
	o.order = append(o.order, openKey{ref: ref, seq: o.seq})
	// Drop the queue's dead entries once they are the larger part.
	if live := len(o.order) - o.head; live > 64 && live >= 2*len(o.m) || o.head > 64 && 2*o.head >= len(o.order) {
		keep := o.order[:0]
		for _, k := range o.order[o.head:] {
			if r, ok := o.m[k.ref]; ok && r.seq == k.seq {
				keep = append(keep, k)
			}
		}
		clear(o.order[len(keep):])
		o.order, o.head = keep, 0
	}
}

// take forgets and returns the open request ref of user.
func (o *openRequests) take(ref, user string) (openRequest, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.m[ref]
	if !ok || r.user.Value() != user {
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
		if !now.Before(time.Unix(r.expiresAt, 0)) {
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
		r.log.Warn("channel.publish_failed", oauth.LogAttrReq, oauth.ReqRef(authReqID), "message", "request.closed", "err", err)
	}
}

// closeExpired tells devices about the announced requests that expired
// at now without being closed otherwise.
func (r *Responder) closeExpired(now time.Time) {
	for _, o := range r.open.expired(now) {
		r.publishClosed(o.id, o.user.Value(), channel.ClosedExpired, "")
	}
}
