package bus

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cibalab/cibalab/server/authreq"
	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// refusal is a reason to refuse a device's message: a channel error code
// and its description.
type refusal struct{ code, desc string }

// sender returns the enrolled, unrevoked device that sent a message on a
// per-device subject. The subject names the device (only its nkey may
// publish there), and the reply must go to the device's own inbox, so
// that no other connection reads the answer.
func (r *Responder) sender(subject, reply string) (*registry.Device, *refusal) {
	id := deviceFromSubject(subject)
	if channel.ValidDeviceID(id) != nil {
		return nil, &refusal{channel.ErrUnknownDevice, "no such device"}
	}
	dev, err := r.cfg.Devices.Device(id)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return nil, &refusal{channel.ErrUnknownDevice, "no such device; enroll"}
	case err != nil:
		r.log.Error("channel.device_lookup_failed", "err", err)
		return nil, &refusal{channel.ErrInternal, "internal error"}
	case dev.Revoked():
		return dev, &refusal{channel.ErrDeviceRevoked, "this device was revoked"}
	case !strings.HasPrefix(reply, channel.DeviceInboxPrefix(r.cfg.Realm, id)+"."):
		return dev, &refusal{channel.ErrBadMessage, "the reply subject is not the device's inbox"}
	}
	return dev, nil
}

// pending lists the pending requests of the sending device's user.
func (r *Responder) pending(ctx context.Context, d Decider, subject, reply string, data []byte) any {
	fail := func(dev *registry.Device, f refusal) any {
		id, user := deviceFromSubject(subject), ""
		if dev != nil {
			user = dev.User
		}
		r.log.Warn("channel.pending_refused", "code", f.code, "device", id, "user", user, "reason", f.desc)
		return channel.PendingResponse{Version: channel.Version, Requests: []channel.AuthRequest{}, Error: f.code, ErrorDescription: f.desc}
	}
	dev, bad := r.sender(subject, reply)
	if bad != nil {
		return fail(dev, *bad)
	}
	var in channel.PendingRequest
	if err := json.Unmarshal(data, &in); err != nil {
		return fail(dev, refusal{channel.ErrBadMessage, "the message is not valid JSON"})
	}
	if in.Version != channel.Version {
		return fail(dev, refusal{channel.ErrUnsupported, "unsupported message version"})
	}
	reqs, err := d.Pending(ctx, dev.User)
	if err != nil {
		r.log.Error("channel.pending_failed", "err", err)
		return fail(dev, refusal{channel.ErrInternal, "internal error"})
	}
	kept, more := fitPending(reqs, maxPendingReply)
	return channel.PendingResponse{Version: channel.Version, Requests: kept, More: more}
}

// maxPendingReply bounds the encoded requests of a pending list: below
// the embedded NATS server's 64 KiB message limit (and the 1 MiB default
// of others), leaving room for the envelope.
const maxPendingReply = 48 << 10

// fitPending returns the first of reqs (the oldest) whose JSON encodings
// add up to at most budget bytes, and whether any were left out. The
// first request is kept whatever its size: a list holds at least one.
func fitPending(reqs []channel.AuthRequest, budget int) ([]channel.AuthRequest, bool) {
	size := 0
	for i, q := range reqs {
		b, err := json.Marshal(q)
		if err != nil {
			return reqs[:i], true
		}
		size += len(b) + 1 // and a comma
		if size > budget && i > 0 {
			return reqs[:i], true
		}
	}
	return reqs, false
}

// decide verifies a decision signed by the sending device's enrolled key
// and applies it (CIBA Core 1.0 §8). Every refusal is logged, published as
// an event and leaves the request untouched.
func (r *Responder) decide(ctx context.Context, d Decider, subject, reply string, data []byte) any {
	now := r.cfg.Now()
	deviceID, user, reqRef := deviceFromSubject(subject), "", ""
	var entry *jtiEntry // the jti of this decision, once recorded
	refuse := func(f refusal) any {
		r.log.Warn("decision.refused", "code", f.code, "device", deviceID, "user", user, oauth.LogAttrReq, reqRef, "reason", f.desc)
		r.Event(ctx, channel.Event{Version: channel.Version, Type: channel.EventDecisionRefused, Time: now.UnixMilli(), AtMicros: now.UnixMicro(),
			ReqRef: reqRef, User: user, Detail: f.code})
		res := channel.DecisionResult{Version: channel.Version, Error: f.code, ErrorDescription: f.desc}
		if entry != nil && f.code != channel.ErrInternal {
			r.settleJTI(entry, res)
		}
		return res
	}
	dev, bad := r.sender(subject, reply)
	if dev != nil {
		user = dev.User
	}
	if bad != nil {
		return refuse(*bad)
	}
	var in channel.Decision
	if err := json.Unmarshal(data, &in); err != nil {
		return refuse(refusal{channel.ErrBadMessage, "the message is not valid JSON"})
	}
	if in.Version != channel.Version {
		return refuse(refusal{channel.ErrUnsupported, "unsupported message version"})
	}
	key, err := dev.PublicKey()
	if err != nil {
		r.log.Error("channel.device_key_unusable", "device", dev.ID, "err", err)
		return refuse(refusal{channel.ErrInternal, "internal error"})
	}
	var claims channel.DecisionClaims
	tok, err := jwt.ParseWithClaims(in.JWT, &claims, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithTimeFunc(r.cfg.Now),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(channel.DecisionLeeway),
	)
	if claims.AuthReqID != "" {
		reqRef = oauth.ReqRef(claims.AuthReqID)
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse(refusal{channel.ErrBadSignature, "the decision does not verify with this device's key"})
	case err != nil:
		// Claims checks: exp, iat, and DecisionClaims.Validate, which
		// the JWT library calls.
		return refuse(refusal{channel.ErrBadMessage, "the decision's claims are invalid or expired"})
	}
	if kid, ok := tok.Header["kid"].(string); ok && dev.Key.Kid != "" && kid != dev.Key.Kid {
		return refuse(refusal{channel.ErrBadSignature, "the decision names another key"})
	}
	if claims.DeviceID != dev.ID {
		return refuse(refusal{channel.ErrBadSignature, "the decision was signed for another device"})
	}
	if now.Sub(claims.IssuedAt.Time) > r.cfg.MaxDecisionAge {
		return refuse(refusal{channel.ErrBadMessage, "the decision is too old"})
	}
	var resent bool
	entry, resent = r.useJTI(claims.ID, dev.ID, in.JWT, now)
	switch {
	case entry == nil:
		return refuse(refusal{channel.ErrReplay, "this jti was already used by another decision"})
	case resent && entry.settled:
		// The same device sent the very same JWT again (its first answer
		// was lost): the original outcome, and nothing applied twice.
		r.log.Info("decision.resent", "device", dev.ID, "user", dev.User, oauth.LogAttrReq, reqRef, "detail", "the same decision JWT; answered as before",
			"accepted", entry.result.Accepted, "code", entry.result.Error)
		return entry.result
	}
	err = d.Decide(ctx, dev.User, claims.AuthReqID, authreq.Verdict{
		Approve:  claims.Verdict == channel.VerdictApprove,
		ACR:      claims.ACR,
		AMR:      claims.AMR,
		Device:   dev.ID,
		NotAfter: claims.ExpiresAt.Time.Add(channel.DecisionLeeway),
		// The indexes of the authorization_details approved (RFC 9396),
		// signed with the verdict.
		ApprovedDetails: claims.ApprovedDetails,
	})
	switch {
	case errors.Is(err, authreq.ErrNotYours):
		return refuse(refusal{channel.ErrNotYourRequest, "no such request for this user"})
	case errors.Is(err, authreq.ErrNotPending):
		return refuse(refusal{channel.ErrNotPending, "the request is no longer pending"})
	case errors.Is(err, authreq.ErrBadDetails):
		return refuse(refusal{channel.ErrBadMessage, "approved_details names entries the request does not have"})
	case errors.Is(err, authreq.ErrLapsed):
		return refuse(refusal{channel.ErrBadMessage, "the decision's claims are invalid or expired"})
	case err != nil:
		r.log.Error("decision.failed", oauth.LogAttrReq, reqRef, "err", err)
		return refuse(refusal{channel.ErrInternal, "internal error"})
	}
	// The decision's event, its log line (authreq.approved or
	// authreq.denied, with the device) and the devices' closed notice come
	// from the request's transition (Transition), once, whoever applied it.
	res := channel.DecisionResult{Version: channel.Version, Accepted: true}
	r.settleJTI(entry, res)
	return res
}
