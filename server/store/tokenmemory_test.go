package store_test

import (
	"testing"

	"cibalab/server/store"
	"cibalab/server/store/storetest"
)

func TestTokenMemoryConformance(t *testing.T) {
	storetest.RunTokens(t, func(*testing.T) store.TokenStore { return store.NewTokenMemory() })
}
