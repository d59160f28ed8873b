package store_test

import (
	"testing"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/server/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return store.NewMemory() })
}
