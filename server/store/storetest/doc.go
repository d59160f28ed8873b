// Package storetest is the conformance suite every store.Store backend must
// pass: create, get, compare-and-swap updates under contention, listing and
// expiry; RunTokens does the same for store.TokenStore backends.
package storetest
