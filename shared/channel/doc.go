// Package channel is the NATS approval channel between the OpenID Provider
// and authentication devices (CIBA Core 1.0 §8 leaves this channel to the
// deployment; this is cibalab's).
//
// Every subject is built by a function of this package and starts with
// "cibalab.v1.<realm>". A user id is never pasted into a subject as it is:
// [UserToken] encodes it so that ".", "*", ">" and spaces cannot change
// routing.
//
// The exchange, version 1:
//
//  1. Sign-in (request/reply on [SignInSubject]): the device sends the user's
//     id and password and the public half of a fresh ES256 device key
//     ([SignInRequest]); the OP answers with a session id and the subject
//     the device must listen on ([SignInResponse]).
//  2. Requests (publish on [UserRequestsSubject]): the OP announces each
//     accepted backchannel authentication request of that user
//     ([AuthRequest]). [PendingSubject] (request/reply) lists those still
//     pending, so a device that connects late misses none.
//  3. Decisions (request/reply on [DecideSubject]): the device sends a JWT
//     signed with its device key ([DecisionClaims]) inside a [Decision];
//     the OP verifies it against the key registered at sign-in and answers
//     with a [DecisionResult]. Only a signed-in device of the user the
//     request belongs to can decide, only once, and only while the request
//     is pending.
//  4. Events (publish on [EventsSubject]): everything that happens, for
//     watchers ([Event]).
package channel
