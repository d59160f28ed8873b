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
	c := newJTICache(3, 0)
	if err := c.use("c1", "a", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := c.use("c1", "a", now.Add(time.Minute), now.Add(30*time.Second)); !errors.Is(err, errReplay) {
		t.Fatalf("replay: %v", err)
	}
	if err := c.use("c1", "a", now.Add(2*time.Minute), now.Add(time.Minute)); err != nil {
		t.Fatalf("after expiry a jti may be used again (the JWT itself is expired by then): %v", err)
	}
	c.use("c1", "b", now.Add(5*time.Minute), now)
	c.use("c1", "c", now.Add(5*time.Minute), now)
	if err := c.use("c2", "d", now.Add(5*time.Minute), now.Add(time.Minute)); !errors.Is(err, errJTIsFull) {
		t.Fatalf("full cache: %v (it must refuse rather than forget a live jti)", err)
	}
	if err := c.use("c2", "d", now.Add(5*time.Minute), now.Add(3*time.Minute)); err != nil {
		t.Fatalf("expired entries are dropped: %v", err)
	}
	if c.len() != 3 {
		t.Fatalf("len %d", c.len())
	}
}

// TestJTICachePerClient: a client holding its share of live jtis is
// refused new ones while the other clients are not, until its entries
// expire.
func TestJTICachePerClient(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	exp := now.Add(time.Minute)
	tests := []struct {
		name      string
		client    string
		key       string
		at        time.Time
		wantErr   error
		wantCount int // entries after the call
	}{
		{"greedy client over its cap", "greedy", "g4", now, errJTIsClientFull, 3},
		{"another client unaffected", "polite", "p1", now, nil, 4},
		{"greedy replay still a replay", "greedy", "g1", now, errReplay, 4},
		{"greedy again after the entries expired", "greedy", "g5", exp, nil, 1},
	}
	c := newJTICache(10, 3)
	for i := range 3 {
		if err := c.use("greedy", fmt.Sprint("g", i+1), exp, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.use(tt.client, tt.key, tt.at.Add(time.Minute), tt.at)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if c.len() != tt.wantCount {
				t.Fatalf("len %d, want %d", c.len(), tt.wantCount)
			}
		})
	}
}

// TestJTICacheExpiryOrder: expired entries leave in expiry order whatever
// the insertion order, and the per-client counts follow.
func TestJTICacheExpiryOrder(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newJTICache(100, 100)
	for i, m := range []int{5, 1, 4, 2, 3} {
		if err := c.use("c", fmt.Sprint(i), now.Add(time.Duration(m)*time.Minute), now); err != nil {
			t.Fatal(err)
		}
	}
	for m, want := range []int{5, 4, 3, 2, 1, 0} {
		c.mu.Lock()
		c.expire(now.Add(time.Duration(m) * time.Minute))
		got, per := len(c.seen), c.perCount["c"]
		c.mu.Unlock()
		if got != want || per != want {
			t.Fatalf("at +%d min: %d entries, %d counted for the client; want %d", m, got, per, want)
		}
	}
}

// TestJTICacheConcurrent: of many concurrent uses of one jti exactly one
// succeeds (run with -race).
func TestJTICacheConcurrent(t *testing.T) {
	now := time.Now()
	c := newJTICache(0, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.use("c", "same", now.Add(time.Minute), now) == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
			c.use(fmt.Sprint("client", i), fmt.Sprint(i), now.Add(time.Minute), now)
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d uses of one jti succeeded", ok)
	}
}
