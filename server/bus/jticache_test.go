package bus

import (
	"fmt"
	"testing"
	"time"
)

func sum(s string) (b [32]byte) { copy(b[:], s); return b }

// TestJTICache: a replayed jti is refused, the same device's identical
// token is answered as before, and an entry is forgotten only after its
// lifetime, never before, also when the clock goes back.
func TestJTICache(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const life = 5 * time.Minute
	tests := []struct {
		name string
		run  func(t *testing.T, c *jtiCache)
	}{
		{"replay refused, resend answered", func(t *testing.T, c *jtiCache) {
			e, resent := c.use("a", "dev1", sum("tok"), t0)
			if e == nil || resent {
				t.Fatalf("first use: %v %v", e, resent)
			}
			if e2, resent := c.use("a", "dev1", sum("tok"), t0.Add(life)); e2 != e || !resent {
				t.Fatalf("resend within the lifetime: %v %v, want the first entry", e2, resent)
			}
			if e2, _ := c.use("a", "dev1", sum("other"), t0.Add(time.Second)); e2 != nil {
				t.Fatal("another token with the same jti was not refused")
			}
			if e2, _ := c.use("a", "dev2", sum("tok"), t0.Add(time.Second)); e2 != nil {
				t.Fatal("another device with the same jti was not refused")
			}
		}},
		{"forgotten after the lifetime", func(t *testing.T, c *jtiCache) {
			c.use("a", "dev1", sum("tok"), t0)
			c.use("b", "dev1", sum("tok"), t0.Add(time.Second))
			if e, _ := c.use("a", "dev1", sum("new"), t0.Add(life)); e != nil {
				t.Fatal("jti forgotten at its last instant")
			}
			if e, resent := c.use("a", "dev1", sum("new"), t0.Add(life+time.Nanosecond)); e == nil || resent {
				t.Fatal("jti still remembered after its lifetime")
			}
			if c.len() != 2 {
				t.Fatalf("%d entries, want a (again) and b", c.len())
			}
		}},
		{"clock going back keeps entries longer", func(t *testing.T, c *jtiCache) {
			c.use("late", "dev1", sum("tok"), t0.Add(time.Minute))
			c.use("early", "dev1", sum("tok"), t0) // the clock went back
			c.forget(t0.Add(life + time.Second))
			if e, _ := c.use("late", "dev1", sum("x"), t0.Add(life+time.Second)); e != nil {
				t.Fatal("late forgotten before its lifetime")
			}
			if e, _ := c.use("early", "dev1", sum("x"), t0.Add(life+time.Second)); e != nil {
				t.Fatal("early forgotten out of order")
			}
			c.forget(t0.Add(time.Minute + life + time.Second))
			if c.len() != 0 {
				t.Fatalf("%d entries after both lifetimes, want 0", c.len())
			}
		}},
		{"bounded by one lifetime of decisions", func(t *testing.T, c *jtiCache) {
			// One decision a second for ten lifetimes: the cache and its
			// queue hold about one lifetime of them, never all.
			perLife := int(life / time.Second)
			for i := range 10 * perLife {
				now := t0.Add(time.Duration(i) * time.Second)
				if e, resent := c.use(fmt.Sprint(i), "dev1", sum("tok"), now); e == nil || resent {
					t.Fatalf("decision %d refused", i)
				}
				if c.len() > perLife+1 {
					t.Fatalf("decision %d: %d entries, want at most %d", i, c.len(), perLife+1)
				}
				if live := len(c.queue) - c.head; live != c.len() {
					t.Fatalf("decision %d: %d queued, %d in the map", i, live, c.len())
				}
			}
			if cap(c.queue) > 4*perLife {
				t.Fatalf("queue capacity %d for %d live entries", cap(c.queue), c.len())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newJTICache(life)
			tt.run(t, &c)
		})
	}
}

// BenchmarkUseJTI is the replay check of one new decision with size
// decisions remembered (decisions/s × the lifetime): the oldest expires as
// each new one is recorded, so the cache keeps its size.
func BenchmarkUseJTI(b *testing.B) {
	for _, size := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("cached=%d", size), func(b *testing.B) {
			r := newJTIBenchResponder()
			life := 2*r.cfg.MaxDecisionAge + time.Minute
			step := life / time.Duration(size)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			jtis := make([]string, size+b.N)
			for i := range jtis {
				jtis[i] = fmt.Sprintf("jti-%d", i)
			}
			for i := range size {
				now = now.Add(step)
				r.useJTI(jtis[i], "dev", "tok", now)
			}
			b.ResetTimer()
			for i := range b.N {
				now = now.Add(step)
				if e, _ := r.useJTI(jtis[size+i], "dev", "tok", now); e == nil {
					b.Fatal("refused")
				}
			}
		})
	}
}

func newJTIBenchResponder() *Responder {
	cfg := Config{MaxDecisionAge: 2 * time.Minute}
	return &Responder{cfg: cfg, jtis: newJTICache(2*cfg.MaxDecisionAge + time.Minute)}
}
