// Package watch turns the OP's event stream (channel.Event on
// channel.EventsSubject) into what a person can follow: the messages of
// each backchannel authentication flow between its three parties, the
// consumption device, the OP and the authentication device (CIBA Core 1.0
// §1), each labelled with the section of the spec that defines it, told
// apart by the request's reference (oauth.ReqRef), and drawn as a live
// sequence diagram in a terminal, as one line per message, as JSON Lines,
// or as a Markdown transcript with a Mermaid sequenceDiagram per flow.
//
// It also feeds the stream: [Publisher] is the op.Observer that publishes
// every exchange of the backchannel authentication and token endpoints and
// every ping and push notification, beside the lifecycle events the
// channel responder (package bus) publishes.
//
// No event carries a token, a secret or a whole auth_req_id, and nothing
// here prints more than an event carries.
package watch
