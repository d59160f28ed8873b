package store_test

import (
	"testing"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/server/store/storetest"
)

func TestLockoutMemoryConformance(t *testing.T) {
	storetest.RunLockouts(t, func(*testing.T) store.LockoutStore { return store.NewLockoutMemory() })
}
