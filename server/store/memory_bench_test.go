package store_test

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cibalab/cibalab/server/store"
)

// benchRequest is a pending request the size of one bc-authorize makes:
// as in the OP, its strings are made for it (parsed from the form, or
// computed from the client certificate), not shared constants.
func benchRequest(i int, now time.Time) *store.Request {
	return &store.Request{
		ID: strconv.Itoa(i) + "-Ahx0ZpL6Qm1yVn3c8RkT2wJfB5sDqXeGu7oIaHbYcN", ClientID: strings.Clone("benchES"), User: strings.Clone("idle"),
		Scope: []string{strings.Clone("openid")}, BindingMessage: strings.Clone("bench"), Status: store.StatusPending,
		CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute), Interval: time.Second,
		CertThumbprint: strings.Clone("O1A4au0pF9rM5ptGU4MNpB7fHvoWbrkI_jPeNLvALto"),
	}
}

// BenchmarkMemoryCreate stores pending requests; it reports the heap each
// one holds (heap-B/req), the Go side of "RSS per pending request".
func BenchmarkMemoryCreate(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	m := store.NewMemory()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := m.Create(ctx, benchRequest(i, now)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "heap-B/req")
	runtime.KeepAlive(m)
}

// BenchmarkMemoryUpdate is one compare-and-swap poll of a pending request,
// as the token endpoint makes it.
func BenchmarkMemoryUpdate(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	m := store.NewMemory()
	const n = 10000
	for i := range n {
		if err := m.Create(ctx, benchRequest(i, now)); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = benchRequest(i, now).ID
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Update(ctx, ids[i%n], func(r *store.Request) error { r.LastPoll = now; r.Polls++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
