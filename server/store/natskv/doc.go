// Package natskv is the [store.Store] backend on a NATS JetStream
// key-value bucket: pending CIBA authentication requests (CIBA Core 1.0
// §7, §8, §10) survive a restart of the OP, and several OP replicas
// connected to one NATS server or cluster share them. Compare-and-swap is
// the key's revision, so an auth_req_id is redeemed at most once
// (CIBA Core 1.0 §10.1.1) across replicas. It passes the storetest
// conformance suite.
package natskv

import "github.com/cibalab/cibalab/server/store"

var _ store.Store = (*Store)(nil)
