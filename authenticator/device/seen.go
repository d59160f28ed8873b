package device

import (
	"container/heap"
	"time"
)

// Bounds of the requests the device remembers, so that none is shown
// twice: each is kept until seenGrace after it expires (the OP keeps
// expired requests 10 minutes), and at most maxSeen at once.
const (
	seenGrace = 10 * time.Minute
	maxSeen   = 4096
)

// tracked is what the pump remembers of a request it saw.
type tracked struct {
	expiresAt         int64
	delivered, closed bool
}

// seenSet is the requests the pump saw, by auth_req_id, with a heap of
// their expiry times, so that forgetting the ones past seenGrace, or the
// one expiring first when maxSeen are held, takes O(log n) a request
// instead of a walk over all of them.
type seenSet struct {
	m     map[string]*tracked
	byExp expiryHeap
}

func newSeenSet() *seenSet { return &seenSet{m: map[string]*tracked{}} }

func (s *seenSet) get(id string) *tracked { return s.m[id] }

// add remembers id, which is not held yet, with t, first forgetting what
// forget would at now, so that at most maxSeen are held.
func (s *seenSet) add(id string, t *tracked, now int64) {
	s.forget(now)
	s.m[id] = t
	heap.Push(&s.byExp, seenExpiry{at: t.expiresAt, id: id})
}

// forget drops the requests expired seenGrace before now, then those
// expiring first while maxSeen or more are held.
func (s *seenSet) forget(now int64) {
	grace := int64(seenGrace / time.Second)
	for len(s.byExp) > 0 && (s.byExp[0].at+grace <= now || len(s.m) >= maxSeen) {
		delete(s.m, heap.Pop(&s.byExp).(seenExpiry).id)
	}
}

// seenExpiry is a remembered request and when it expires (Unix seconds).
type seenExpiry struct {
	at int64
	id string
}

// expiryHeap is a min-heap of expiries (container/heap).
type expiryHeap []seenExpiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(seenExpiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = seenExpiry{}
	*h = old[:len(old)-1]
	return x
}
