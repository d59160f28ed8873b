package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is a Store held in process memory. The zero value is not usable;
// call NewMemory.
type Memory struct {
	mu   sync.Mutex
	reqs table[Request, *Request]
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{reqs: newTable[Request]()}
}

var _ Store = (*Memory)(nil)

// Create implements Store.
func (m *Memory) Create(ctx context.Context, r *Request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.ID == "" {
		return fmt.Errorf("store: request without ID")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reqs.insert(r.ID, r)
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, id string) (*Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reqs.get(id)
}

// Update implements Store. The memory backend holds its lock while fn runs,
// so a conflict never happens and fn runs once.
func (m *Memory) Update(ctx context.Context, id string, fn func(*Request) error) (*Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reqs.update(id, fn)
}

// List implements Store.
func (m *Memory) List(ctx context.Context, user string, status Status) ([]*Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	var out []*Request
	for _, r := range m.reqs.rows {
		if (user == "" || r.User == user) && r.Status == status {
			out = append(out, r.Clone())
		}
	}
	m.mu.Unlock()
	SortOldestFirst(out)
	return out, nil
}

// DeleteExpired implements Store.
func (m *Memory) DeleteExpired(ctx context.Context, cutoff time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, r := range m.reqs.rows {
		if r.ExpiresAt.Before(cutoff) {
			delete(m.reqs.rows, id)
			n++
		}
	}
	return n, nil
}

// SortOldestFirst sorts requests by creation time, then by ID, the order
// of Store.List.
func SortOldestFirst(reqs []*Request) {
	slices.SortFunc(reqs, func(a, b *Request) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
