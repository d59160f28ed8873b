package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/server/simdevice"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// userDevice is the authentication device the API decides with for one
// user: enrolled through the state directory (the API's caller holds the
// token, so it stands for the OP's administrator and needs no user
// password), connected to the OP's NATS server, and signing its decisions
// with its own key, so that the OP checks them as any device's.
type userDevice struct {
	user string
	dev  *simdevice.Device
	// ready is closed once the first Connect ended, with err its result.
	ready chan struct{}
	err   error

	mu      sync.Mutex
	handled map[string]bool // auth_req_ids a policy answered or ignored
}

// deviceName is the name the API's devices are enrolled under
// (ciba-op device list shows it).
const deviceName = "control API"

// device returns the user's device, enrolling and connecting it on first
// use.
func (s *Server) device(ctx context.Context, user string) (*userDevice, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("control: closed")
	}
	if d := s.devices[user]; d != nil {
		s.mu.Unlock()
		return waitReady(ctx, d)
	}
	s.mu.Unlock()
	if _, err := s.cfg.OP.Dir.User(user); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, notFound("no user %q", user)
		}
		return nil, err
	}
	ud := &userDevice{user: user, handled: map[string]bool{}, ready: make(chan struct{})}
	realm := path.Base(s.cfg.OP.Issuer)
	dev, err := simdevice.New(simdevice.Config{
		NATSURL: s.cfg.OP.NATSURL, Realm: realm, User: user, Name: deviceName, Now: s.cfg.Now,
		OnRequest: func(r channel.AuthRequest) { s.announced(ud, r) },
		Enroll: func(ctx context.Context, keys simdevice.Keys) (*channel.EnrollResponse, error) {
			return s.enroll(ctx, realm, user, keys)
		},
	})
	if err != nil {
		return nil, err
	}
	ud.dev = dev
	s.mu.Lock()
	if d := s.devices[user]; d != nil { // another call enrolls it
		s.mu.Unlock()
		return waitReady(ctx, d)
	}
	s.devices[user] = ud
	s.mu.Unlock()
	ud.err = dev.Connect(ctx)
	if ud.err != nil {
		s.mu.Lock()
		if s.devices[user] == ud {
			delete(s.devices, user)
		}
		s.mu.Unlock()
		dev.Drop()
	}
	close(ud.ready)
	if ud.err != nil {
		return nil, ud.err
	}
	return ud, nil
}

// waitReady waits until the first connection of d ended.
func waitReady(ctx context.Context, d *userDevice) (*userDevice, error) {
	select {
	case <-d.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if d.err != nil {
		return nil, d.err
	}
	return d, nil
}

// enroll registers the device's public keys for user and lets it into
// NATS, as the OP's enrollment does after checking the user's password
// (bus.Responder), and answers the subjects the OP would have.
func (s *Server) enroll(ctx context.Context, realm, user string, keys simdevice.Keys) (*channel.EnrollResponse, error) {
	dev, err := s.cfg.OP.Dir.EnrollDevice(registry.Device{User: user, Name: deviceName, Key: keys.JWK, NKey: keys.NKey})
	if err != nil {
		return nil, err
	}
	if err := s.cfg.OP.Responder.SyncDevices(ctx); err != nil {
		return nil, err
	}
	return &channel.EnrollResponse{
		Version:         channel.Version,
		DeviceID:        dev.ID,
		User:            dev.User,
		RequestsSubject: channel.UserRequestsSubject(realm, dev.User),
		PendingSubject:  channel.DevicePendingSubject(realm, dev.ID),
		DecideSubject:   channel.DeviceDecideSubject(realm, dev.ID),
		InboxPrefix:     channel.DeviceInboxPrefix(realm, dev.ID),
	}, nil
}

// decide sends the user's device's decision on the request, and maps the
// OP's refusal to a 409. approved names the authorization_details entries
// an approval grants, by index from 0 (RFC 9396); nil grants them all.
func (s *Server) decide(ctx context.Context, user, authReqID string, approve bool, approved []int) error {
	ud, err := s.device(ctx, user)
	if err != nil {
		return err
	}
	err = ud.dev.Decide(ctx, authReqID, approve, approved)
	var refused *simdevice.RefusedError
	switch {
	case errors.As(err, &refused):
		return conflict(refused.Code, "the OP refused the device's decision: %s", refused.Description)
	case errors.Is(err, simdevice.ErrOffline):
		return conflict("device_offline", "the device of user %s is offline (POST /faults/drop-devices); POST /faults/reconnect-devices first", user)
	case err != nil:
		return err
	}
	ud.mu.Lock()
	ud.handled[authReqID] = true
	ud.mu.Unlock()
	s.cfg.Logger.Info("control.decision_sent", oauth.LogAttrReq, oauth.ReqRef(authReqID), "user", user, "approve", approve)
	return nil
}

// dropDevices disconnects every device of the API.
func (s *Server) dropDevices() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.devices {
		d.dev.Drop()
	}
	return len(s.devices)
}

// reconnectDevices reconnects every device of the API; each lists the
// requests still pending for its user, which go to the user's policy.
func (s *Server) reconnectDevices(ctx context.Context) (int, error) {
	s.mu.Lock()
	devs := make([]*userDevice, 0, len(s.devices))
	for _, d := range s.devices {
		devs = append(devs, d)
	}
	s.mu.Unlock()
	slices.SortFunc(devs, func(a, b *userDevice) int { return strings.Compare(a.user, b.user) })
	for _, d := range devs {
		if _, err := waitReady(ctx, d); err != nil || d.dev.Online() {
			continue // never connected (its caller had the error), or online
		}
		if err := d.dev.Connect(ctx); err != nil {
			return 0, fmt.Errorf("reconnecting the device of %s: %w", d.user, err)
		}
	}
	return len(devs), nil
}

// decideBody is the optional body of POST /requests/{id}/approve.
type decideBody struct {
	// ApprovedDetails names the authorization_details entries approved,
	// by index from 0 (RFC 9396 §2); absent approves them all, and an
	// empty list approves none, which the OP treats as a denial.
	ApprovedDetails *[]int `json:"approved_details,omitempty"`
}

// decideHandler answers POST /requests/{id}/approve and /deny: the
// request's user's device decides; an approval may grant only some of
// the request's authorization_details.
func (s *Server) decideHandler(approve bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		req, err := s.request(r.Context(), id)
		if err != nil {
			return err
		}
		var body decideBody
		if err := readJSON(r, &body, true); err != nil {
			return err
		}
		var approved []int
		if body.ApprovedDetails != nil {
			if !approve {
				return badRequest(`"approved_details" belongs to an approval, not a denial`)
			}
			if req.AuthorizationDetails == "" {
				return badRequest(`"approved_details": the request has no authorization_details`)
			}
			approved = append([]int{}, *body.ApprovedDetails...)
		}
		if err := s.decide(r.Context(), req.User, id, approve, approved); err != nil {
			return err
		}
		verdict := "denied"
		if approve {
			verdict = "approved"
		}
		return writeJSON(w, http.StatusOK, map[string]string{"auth_req_id": id, "user": req.User, "decision": verdict})
	}
}
