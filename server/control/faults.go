package control

import (
	"net/http"
	"time"
)

func (s *Server) faultRoutes() []route {
	return []route{
		{"GET", "/faults", s.getFaults},
		{"POST", "/faults/token-unavailable", s.faultTokenUnavailable},
		{"POST", "/faults/notification", s.faultNotification},
		{"POST", "/faults/drop-devices", s.faultDropDevices},
		{"POST", "/faults/reconnect-devices", s.faultReconnectDevices},
	}
}

// faultsJSON is what is queued.
type faultsJSON struct {
	TokenUnavailable int `json:"token_unavailable"`
	Notification     int `json:"notification"`
}

func (s *Server) faultState() faultsJSON {
	var out faultsJSON
	if s.cfg.Throttle != nil {
		out.TokenUnavailable = s.cfg.Throttle.Queued()
	}
	if s.cfg.Notifications != nil {
		out.Notification = s.cfg.Notifications.Queued()
	}
	return out
}

// getFaults answers the faults queued and not yet applied.
func (s *Server) getFaults(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.faultState())
}

// maxFaults bounds one call's count.
const maxFaults = 1000

// faultTokenUnavailable makes the next {"count": N} token requests get 503
// temporarily_unavailable with Retry-After {"retry_after": S} seconds
// (CIBA Core 1.0 §11). Only requests whose client authenticates count.
func (s *Server) faultTokenUnavailable(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Throttle == nil {
		return conflict("faults_disabled", "this OP was started without token faults")
	}
	in := struct {
		Count      int `json:"count"`
		RetryAfter int `json:"retry_after"`
	}{Count: 1, RetryAfter: 1}
	if err := readJSON(r, &in, true); err != nil {
		return err
	}
	if in.Count < 1 || in.Count > maxFaults {
		return badRequest(`"count" must be 1 to %d`, maxFaults)
	}
	if in.RetryAfter < 1 || in.RetryAfter > 3600 {
		return badRequest(`"retry_after" must be 1 to 3600 seconds`)
	}
	s.cfg.Throttle.Add(in.Count, time.Duration(in.RetryAfter)*time.Second)
	return writeJSON(w, http.StatusOK, s.faultState())
}

// faultNotification makes the next {"count": N} pings or pushes to
// clients' notification endpoints (CIBA Core 1.0 §10.2, §10.3) fail with
// {"status": S} (an HTTP status the OP sees as the endpoint's answer) or,
// with {"timeout": true}, time out. The notification never reaches the
// endpoint.
func (s *Server) faultNotification(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Notifications == nil {
		return conflict("faults_disabled", "this OP was started without notification faults")
	}
	in := struct {
		Count   int  `json:"count"`
		Status  int  `json:"status"`
		Timeout bool `json:"timeout"`
	}{Count: 1}
	if err := readJSON(r, &in, false); err != nil {
		return err
	}
	if in.Count < 1 || in.Count > maxFaults {
		return badRequest(`"count" must be 1 to %d`, maxFaults)
	}
	switch {
	case in.Timeout && in.Status != 0:
		return badRequest(`give "status" or "timeout", not both`)
	case !in.Timeout && (in.Status < 100 || in.Status > 599):
		return badRequest(`"status" must be an HTTP status (100 to 599), or send {"timeout": true}`)
	}
	for range in.Count {
		if in.Timeout {
			s.cfg.Notifications.Timeout()
		} else {
			s.cfg.Notifications.Fail(in.Status)
		}
	}
	return writeJSON(w, http.StatusOK, s.faultState())
}

// faultDropDevices disconnects the API's devices from NATS, as if the
// phones lost the network: requests announced meanwhile do not reach
// them, policies do not answer, and approve and deny answer 409
// device_offline, until reconnect-devices. Devices of other programs
// (ciba-authenticator) are not affected.
func (s *Server) faultDropDevices(w http.ResponseWriter, r *http.Request) error {
	if err := readJSON(r, &struct{}{}, true); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]int{"devices": s.dropDevices()})
}

// faultReconnectDevices reconnects the API's devices; each lists the
// requests still pending for its user (the channel's catch-up), which its
// user's policy then answers.
func (s *Server) faultReconnectDevices(w http.ResponseWriter, r *http.Request) error {
	if err := readJSON(r, &struct{}{}, true); err != nil {
		return err
	}
	n, err := s.reconnectDevices(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]int{"devices": n})
}
