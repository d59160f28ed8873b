// Package simdevice is a minimal simulated authentication device
// (CIBA Core 1.0 §8) speaking the OP's NATS channel (package
// github.com/cibalab/cibalab/shared/channel, whose doc comment describes
// the exchange): it enrolls once, with the user's password or through an
// administrator's Enroll hook, connects with its NATS nkey, hears its
// user's requests (step 1), lists those still pending after a
// reconnection, and sends decisions signed with its ES256 key (step 2),
// so that the OP applies to them every rule it applies to a real
// ciba-authenticator. optest and the control API (package control) decide
// through it.
package simdevice
