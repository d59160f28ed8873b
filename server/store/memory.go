package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is a Store held in process memory: each request is held packed
// (packedRequest), written with a new revision, and handed out only as
// copies. The zero value is not usable; call NewMemory.
type Memory struct {
	mu   sync.Mutex
	rows map[string]*packedRequest
	rev  uint64
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{rows: make(map[string]*packedRequest)}
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
	p := pack(r, nil)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.rows[r.ID]; ok {
		return ErrExists
	}
	m.rev++
	p.revision = m.rev
	m.rows[r.ID] = p
	return nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, id string) (*Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	p, ok := m.rows[id]
	m.mu.Unlock()
	if !ok {
		return nil, ErrNotFound
	}
	return p.unpack(id), nil
}

// Update implements Store. The memory backend holds its lock while fn runs,
// so a conflict never happens and fn runs once.
func (m *Memory) Update(ctx context.Context, id string, fn func(*Request) error) (*Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.rows[id]
	if !ok {
		return nil, ErrNotFound
	}
	next := cur.unpack(id)
	if err := fn(next); err != nil {
		return nil, err
	}
	// An update cannot change the key: next.ID is not stored.
	m.rev++
	next.Revision = m.rev
	p := pack(next, cur)
	m.rows[id] = p
	return p.unpack(id), nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, user string, status Status) ([]*Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	var out []*Request
	for id, p := range m.rows {
		if (user == "" || p.user.Value() == user) && p.status.Value() == status {
			out = append(out, p.unpack(id))
		}
	}
	m.mu.Unlock()
	SortOldestFirst(out)
	return out, nil
}

// ListExpired implements Store. Only the rows it returns are unpacked.
func (m *Memory) ListExpired(ctx context.Context, status Status, now time.Time) ([]*Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	var out []*Request
	for id, p := range m.rows {
		if !now.Before(p.expiresAt) && p.status.Value() == status {
			out = append(out, p.unpack(id))
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
	for id, p := range m.rows {
		if p.expiresAt.Before(cutoff) {
			delete(m.rows, id)
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
