package op

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestJTICache(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newJTICache(3)
	if err := c.use("a", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := c.use("a", now.Add(time.Minute), now.Add(30*time.Second)); !errors.Is(err, errReplay) {
		t.Fatalf("replay: %v", err)
	}
	if err := c.use("a", now.Add(2*time.Minute), now.Add(time.Minute)); err != nil {
		t.Fatalf("after expiry a jti may be used again (the JWT itself is expired by then): %v", err)
	}
	c.use("b", now.Add(5*time.Minute), now)
	c.use("c", now.Add(5*time.Minute), now)
	if err := c.use("d", now.Add(5*time.Minute), now.Add(time.Minute)); !errors.Is(err, errJTIsFull) {
		t.Fatalf("full cache: %v (it must refuse rather than forget a live jti)", err)
	}
	if err := c.use("d", now.Add(5*time.Minute), now.Add(3*time.Minute)); err != nil {
		t.Fatalf("expired entries are swept when full: %v", err)
	}
	if c.len() != 3 {
		t.Fatalf("len %d", c.len())
	}
}

// TestJTICacheConcurrent: of many concurrent uses of one jti exactly one
// succeeds (run with -race).
func TestJTICacheConcurrent(t *testing.T) {
	now := time.Now()
	c := newJTICache(0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.use("same", now.Add(time.Minute), now) == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
			c.use(fmt.Sprint(i), now.Add(time.Minute), now)
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d uses of one jti succeeded", ok)
	}
}
