package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cibalab/cibalab/server/store"
)

// Store returns s wrapped so that its operations are counted
// (cibalab_store_operations_total, cibalab_store_errors_total), and
// makes s the store whose pending requests cibalab_auth_requests_pending
// reports. Call it once, before the store is used.
func (m *Metrics) Store(s store.Store) store.Store {
	m.pending.store = s
	return &countedStore{
		Store: s, errOK: func(err error) bool {
			return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists)
		},
		create: m.storeCounters("create"), get: m.storeCounters("get"), update: m.storeCounters("update"),
		list: m.storeCounters("list"), deleteExpired: m.storeCounters("delete_expired"),
	}
}

// counters are the two counters of one store operation, resolved once so
// that counting costs two atomic adds.
type counters struct{ ops, errs prometheus.Counter }

func (m *Metrics) storeCounters(op string) counters {
	return counters{m.storeOps.WithLabelValues(op), m.storeErrors.WithLabelValues(op)}
}

// count counts one operation that returned err; errOK tells the outcomes
// that are not failures.
func (c counters) count(err error, errOK func(error) bool) {
	c.ops.Inc()
	if err != nil && !errOK(err) {
		c.errs.Inc()
	}
}

// countedStore counts the operations of the store.Store it wraps.
type countedStore struct {
	store.Store
	errOK                                    func(error) bool
	create, get, update, list, deleteExpired counters
}

func (s *countedStore) Create(ctx context.Context, r *store.Request) error {
	err := s.Store.Create(ctx, r)
	s.create.count(err, s.errOK)
	return err
}

func (s *countedStore) Get(ctx context.Context, id string) (*store.Request, error) {
	r, err := s.Store.Get(ctx, id)
	s.get.count(err, s.errOK)
	return r, err
}

// Update counts an error of fn, which refuses the change (a request
// already decided, say), as an outcome, not a failure of the store.
func (s *countedStore) Update(ctx context.Context, id string, fn func(*store.Request) error) (*store.Request, error) {
	var refused error
	r, err := s.Store.Update(ctx, id, func(r *store.Request) error {
		refused = fn(r)
		return refused
	})
	if err != nil && refused != nil && errors.Is(err, refused) {
		s.update.ops.Inc()
		return r, err
	}
	s.update.count(err, s.errOK)
	return r, err
}

func (s *countedStore) List(ctx context.Context, user string, status store.Status) ([]*store.Request, error) {
	rs, err := s.Store.List(ctx, user, status)
	s.list.count(err, s.errOK)
	return rs, err
}

func (s *countedStore) DeleteExpired(ctx context.Context, cutoff time.Time) (int, error) {
	n, err := s.Store.DeleteExpired(ctx, cutoff)
	s.deleteExpired.count(err, s.errOK)
	return n, err
}
