package store_test

import (
	"testing"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/server/store/storetest"
)

func TestJTIMemoryConformance(t *testing.T) {
	storetest.RunJTIs(t, func(*testing.T) store.JTIStore { return store.NewJTIMemory() })
}
