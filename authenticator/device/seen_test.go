package device

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestSeenSetMatchesFullScan: the heap forgets exactly what a walk over
// every remembered request would (those expired seenGrace ago, then the
// one expiring first while maxSeen are held), over random arrivals.
func TestSeenSetMatchesFullScan(t *testing.T) {
	grace := int64(seenGrace.Seconds())
	rng := rand.New(rand.NewPCG(1, 2))
	s := newSeenSet()
	model := map[string]int64{}
	forget := func(now int64) {
		for id, exp := range model {
			if exp+grace <= now {
				delete(model, id)
			}
		}
		for len(model) >= maxSeen {
			var oldest string
			for id, exp := range model {
				if oldest == "" || exp < model[oldest] {
					oldest = id
				}
			}
			delete(model, oldest)
		}
	}
	now := int64(1_000_000)
	for i := range 3 * maxSeen {
		now += rng.Int64N(3) // requests arrive, a few a second
		// Expiries in 1 s to 10 min, distinct so that "first" is one.
		exp := now + 1 + rng.Int64N(600)*1_000_000 + int64(i)
		if i%97 == 0 {
			now += 20 * 60 // a quiet spell: everything past its grace goes
		}
		id := fmt.Sprint("req-", i)
		forget(now)
		model[id] = exp
		s.add(id, &tracked{expiresAt: exp}, now)
		if len(s.m) != len(model) || len(s.byExp) != len(s.m) {
			t.Fatalf("step %d: %d held, %d in the heap, want %d", i, len(s.m), len(s.byExp), len(model))
		}
		if i%211 == 0 {
			for id := range model {
				if s.get(id) == nil {
					t.Fatalf("step %d: %s forgotten, the full scan keeps it", i, id)
				}
			}
		}
	}
}

// TestSeenSetKeepsUntilGrace: a request is remembered until seenGrace
// after it expires, so that a late announcement of it is not shown again.
func TestSeenSetKeepsUntilGrace(t *testing.T) {
	s := newSeenSet()
	grace := int64(seenGrace.Seconds())
	s.add("a", &tracked{expiresAt: 100}, 0)
	s.forget(100 + grace - 1)
	if s.get("a") == nil {
		t.Fatal("forgotten before its grace")
	}
	s.forget(100 + grace)
	if s.get("a") != nil || len(s.byExp) != 0 {
		t.Fatal("still held after its grace")
	}
}

// BenchmarkSeenAdd is one new request with maxSeen - 1 remembered.
func BenchmarkSeenAdd(b *testing.B) {
	s := newSeenSet()
	ids := make([]string, b.N+maxSeen)
	for i := range ids {
		ids[i] = fmt.Sprint("req-", i)
	}
	for i := range maxSeen - 1 {
		s.add(ids[i], &tracked{expiresAt: int64(1e6 + i)}, 0)
	}
	b.ResetTimer()
	for i := range b.N {
		s.add(ids[maxSeen+i], &tracked{expiresAt: int64(2e6 + i)}, 0)
	}
}
