// Package store keeps pending backchannel authentication requests
// (CIBA Core 1.0 §7, §8, §10) behind the [Store] interface.
//
// Every change goes through [Store.Update], a compare-and-swap updater: the
// function sees a copy of the current request and its result is written only
// if nobody changed the request in between, so two concurrent polls can never
// both redeem one auth_req_id (CIBA Core 1.0 §10.1.1: once redeemed, an
// auth_req_id is no longer valid). [Memory] is the in-process backend;
// package natskv keeps requests in a NATS JetStream key-value bucket, so
// they survive a restart and OP replicas share them; this package itself
// depends on neither NATS nor HTTP. Package storetest is the conformance
// suite every backend must pass.
//
// Refresh tokens (RFC 6749 §6) and revoked access tokens (RFC 7009) live
// behind the [TokenStore] interface, with the same compare-and-swap
// discipline ([TokenStore.UpdateToken]) so a refresh token is exchanged at
// most once; [TokenMemory] is its in-process backend.
package store
