package ciba

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/cibalab/cibalab/shared/oauth"
)

// Notification is what the provider delivered for one request.
type Notification struct {
	// Mode is ping or push.
	Mode oauth.DeliveryMode
	// AuthReqID is the auth_req_id member of the body.
	AuthReqID string
	// Token is the pushed token response (push mode, CIBA Core 1.0
	// §10.3.1); nil for a ping or an error.
	Token *Token
	// Err is the pushed error (push mode, CIBA Core 1.0 §12); nil
	// otherwise.
	Err *oauth.Error
	// ReceivedAt is when it arrived.
	ReceivedAt time.Time
}

// parseNotification checks a notification body: for a ping
// (CIBA Core 1.0 §10.2) an object with a non-empty auth_req_id; for a
// push either a token response with auth_req_id (§10.3.1) or an error
// payload (§12). It returns a one-line problem when the body is invalid.
func parseNotification(body []byte, mode oauth.DeliveryMode) (*Notification, string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, "the body is not a JSON object"
	}
	if dec.More() {
		return nil, "data after the JSON object"
	}
	id, ok := raw[oauth.ParamAuthReqID].(string)
	if !ok || id == "" {
		return nil, "no auth_req_id in the notification"
	}
	n := &Notification{Mode: mode, AuthReqID: id}
	if mode == oauth.ModePing {
		return n, ""
	}
	if _, present := raw["error"]; present {
		oe, problem := decodeError(body)
		if problem != "" {
			return nil, "push error payload: " + problem
		}
		n.Err = oe
		return n, ""
	}
	tok, problem := decodeToken(body)
	if problem != "" {
		return nil, "push payload: " + problem
	}
	if tok.IDToken == "" {
		return nil, "push payload without id_token (CIBA Core 1.0 §10.3.1)"
	}
	n.Token = tok
	return n, ""
}
