package store_test

import (
	"testing"

	"cibalab/server/store"
	"cibalab/server/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return store.NewMemory() })
}
