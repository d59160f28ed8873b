package store

// row is a record the memory backends keep: it can be copied, carries a
// revision, and has key fields an update may not change.
type row[T any] interface {
	*T
	Clone() *T
	setRevision(rev uint64)
	keepKeys(of *T)
}

// table is the compare-and-swap core of the memory backends: records by
// key, each written with a new revision, handed out only as copies. The
// caller holds its own lock around every call.
type table[T any, P row[T]] struct {
	rows map[string]P
	rev  uint64
}

func newTable[T any, P row[T]]() table[T, P] { return table[T, P]{rows: make(map[string]P)} }

// insert stores a copy of r under key; ErrExists if the key is taken.
func (t *table[T, P]) insert(key string, r P) error {
	if _, ok := t.rows[key]; ok {
		return ErrExists
	}
	t.rev++
	c := P(r.Clone())
	c.setRevision(t.rev)
	t.rows[key] = c
	return nil
}

// get returns a copy of the record of key; ErrNotFound if there is none.
func (t *table[T, P]) get(key string) (P, error) {
	r, ok := t.rows[key]
	if !ok {
		return nil, ErrNotFound
	}
	return P(r.Clone()), nil
}

// update applies fn to a copy of the record of key and stores the result
// with a new revision, its key fields unchanged. An error from fn aborts
// the update and is returned unchanged.
func (t *table[T, P]) update(key string, fn func(P) error) (P, error) {
	cur, ok := t.rows[key]
	if !ok {
		return nil, ErrNotFound
	}
	next := P(cur.Clone())
	if err := fn(next); err != nil {
		return nil, err
	}
	next.keepKeys((*T)(cur))
	t.rev++
	next.setRevision(t.rev)
	t.rows[key] = next
	return P(next.Clone()), nil
}
