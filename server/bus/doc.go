// Package bus is the OP's side of the NATS approval channel
// (package cibalab/shared/channel): it embeds a nats-server when no external
// one is given, signs authentication devices in, announces each
// backchannel authentication request to its user's devices, and verifies and
// applies their signed decisions (CIBA Core 1.0 §8 leaves this channel to
// the deployment).
package bus
