// Package channel is the NATS approval channel between the OpenID Provider
// and authentication devices (CIBA Core 1.0 §8 leaves this channel to the
// deployment; this is cibalab's).
//
// Every subject is built by a function of this package and starts with
// "cibalab.v1.<realm>". A user id is never pasted into a subject as it is:
// [UserToken] encodes it so that ".", "*", ">" and spaces cannot change
// routing. Device ids are chosen by the OP and checked by [ValidDeviceID].
//
// The exchange, version 1, for enrolled devices:
//
//  0. Enrollment, once per device, in two steps. (a) Over a connection
//     without credentials, which may subscribe to nothing, the device
//     publishes an [EnrollHello] with the public half of its NATS nkey on
//     [EnrollSubject]; the OP admits that nkey for a short while. (b)
//     Connected with that nkey, its inbox below [EnrollInboxPrefix], the
//     device sends the user's id and password and the public halves of
//     its ES256 device key and of its nkey ([EnrollRequest]) on
//     [EnrollKeySubject] (request/reply); the OP stores the device and
//     answers with its device id and the subjects its nkey may use
//     ([EnrollResponse]). Only that nkey may use those two subjects, so
//     no other connection reads the answer. From then on the device
//     connects with its nkey, receives replies below [DeviceInboxPrefix]
//     and never sends the password again.
//  1. Requests (publish on [UserRequestsSubject]): the OP announces each
//     accepted backchannel authentication request of that user
//     ([AuthRequest]); only that user's devices may subscribe.
//     [DevicePendingSubject] (request/reply, [PendingRequest] →
//     [PendingResponse]) lists those still pending, so a device that
//     connects late or reconnects misses none. When a request is decided,
//     redeemed or expires, the OP publishes a [RequestClosed] (it has a
//     "type", an AuthRequest has none) on the same subject, so every
//     device takes its card away.
//  2. Decisions (request/reply on [DeviceDecideSubject]): the device sends
//     a JWT signed with its device key ([DecisionClaims] with device_id)
//     inside a [Decision]; the OP verifies it against the enrolled key and
//     answers with a [DecisionResult]. Only an enrolled, unrevoked device
//     of the user the request belongs to can decide, only once, and only
//     while the request is pending and the decision's exp plus
//     [DecisionLeeway] has not passed. The same decision sent again is
//     answered as the first time. A device sending more than the OP
//     processes for one device is answered [ErrRateLimited].
//  3. Events (publish on [EventsSubject]): everything that happens, for
//     watchers with the OP's credentials ([Event]).
//
// The per-device subjects name their sender: the NATS server lets only
// the device's own nkey publish on them, so the OP knows which device
// asks without trusting the payload.
package channel
