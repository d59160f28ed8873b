// Package bus is the OP's side of the NATS approval channel
// (package github.com/cibalab/cibalab/shared/channel; CIBA Core 1.0 §8 leaves this channel to
// the deployment): it embeds a nats-server, closed by default, when no
// external one is given ([StartServer]); it enrolls authentication devices,
// lets exactly the enrolled, unrevoked ones in with their own nkeys and
// per-device permissions ([Embedded.SetDevices], [Responder.SyncDevices]),
// announces each backchannel authentication request to its user's
// devices, and verifies and applies their signed decisions ([Responder]).
package bus
