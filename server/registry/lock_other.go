//go:build !unix

package registry

// lockExclusive is a no-op where flock(2) does not exist: writers are
// then serialised only inside one process.
func lockExclusive(path string) (func(), error) {
	return func() {}, nil
}
