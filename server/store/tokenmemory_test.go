package store_test

import (
	"testing"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/server/store/storetest"
)

func TestTokenMemoryConformance(t *testing.T) {
	storetest.RunTokens(t, func(*testing.T) store.TokenStore { return store.NewTokenMemory() })
}
