package control

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/cibalab/cibalab/server/store"
	"github.com/cibalab/cibalab/shared/authzdetails"
)

func (s *Server) requestRoutes() []route {
	return []route{
		{"GET", "/requests", s.listRequests},
		{"GET", "/requests/{id}", s.getRequest},
		{"POST", "/requests/{id}/approve", s.decideHandler(true)},
		{"POST", "/requests/{id}/deny", s.decideHandler(false)},
		{"GET", "/requests/{id}/events", s.requestEvents},
	}
}

// requestJSON is a backchannel authentication request as the user's
// device would show it (CIBA Core 1.0 §7.1, §8), with its state.
type requestJSON struct {
	AuthReqID      string    `json:"auth_req_id"`
	ClientID       string    `json:"client_id"`
	ClientName     string    `json:"client_name,omitempty"`
	User           string    `json:"user"`
	Scope          []string  `json:"scope"`
	BindingMessage string    `json:"binding_message,omitempty"`
	ACRValues      []string  `json:"acr_values,omitempty"`
	Status         string    `json:"status"`
	CreatedAt      time.Time `json:"created_at"`
	ExpiresAt      time.Time `json:"expires_at"`
	// ExpiresIn is the seconds left before expiry on the OP's clock, 0
	// once expired.
	ExpiresIn int64 `json:"expires_in"`
	// IntervalSeconds is the current minimum time between polls
	// (CIBA Core 1.0 §7.3, raised by slow_down, §11).
	IntervalSeconds int64 `json:"interval"`
	Polls           int   `json:"polls"`
	// AuthorizationDetails is what the client asks for beyond the scope
	// (RFC 9396 §2), as it sent it; AuthorizationDetailsText the same
	// entries in words, as the user's device shows them; GrantedDetails
	// the entries the user approved, once approved (RFC 9396 §7).
	AuthorizationDetails     json.RawMessage `json:"authorization_details,omitempty"`
	AuthorizationDetailsText []string        `json:"authorization_details_text,omitempty"`
	GrantedDetails           json.RawMessage `json:"granted_authorization_details,omitempty"`
}

func (s *Server) requestView(r *store.Request, now time.Time) requestJSON {
	out := requestJSON{
		AuthReqID: r.ID, ClientID: r.ClientID, User: r.User, Scope: r.Scope,
		BindingMessage: r.BindingMessage, ACRValues: r.ACRValues, Status: string(r.Status),
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
		IntervalSeconds: int64(r.Interval / time.Second), Polls: r.Polls,
	}
	if out.Scope == nil {
		out.Scope = []string{}
	}
	if c, err := s.cfg.OP.Dir.Client(r.ClientID); err == nil {
		out.ClientName = c.Name
	}
	if r.AuthorizationDetails != "" {
		out.AuthorizationDetails = json.RawMessage(r.AuthorizationDetails)
		if ds, err := authzdetails.Parse([]byte(r.AuthorizationDetails)); err == nil {
			out.AuthorizationDetailsText = ds.Lines()
		}
	}
	if r.GrantedDetails != "" {
		out.GrantedDetails = json.RawMessage(r.GrantedDetails)
	}
	if left := r.ExpiresAt.Sub(now); left > 0 {
		out.ExpiresIn = int64((left + time.Second - 1) / time.Second)
	}
	if r.Status == store.StatusPending && r.Expired(now) {
		out.Status = "expired"
	}
	return out
}

// listRequests answers the pending, unexpired requests, oldest first,
// optionally of one user (?user=) or client (?client_id=).
func (s *Server) listRequests(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		if k != "user" && k != "client_id" {
			return badRequest("unknown query parameter %q; use user or client_id", k)
		}
	}
	list, err := s.cfg.OP.Store.List(r.Context(), q.Get("user"), store.StatusPending)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	out := []requestJSON{}
	for _, req := range list {
		if req.Expired(now) || (q.Get("client_id") != "" && req.ClientID != q.Get("client_id")) {
			continue
		}
		out = append(out, s.requestView(req, now))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"requests": out})
}

// getRequest answers one request in any state: pending, expired,
// approved, denied or redeemed.
func (s *Server) getRequest(w http.ResponseWriter, r *http.Request) error {
	req, err := s.request(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.requestView(req, s.cfg.Now()))
}

// request reads the request id from the OP's store.
func (s *Server) request(ctx context.Context, id string) (*store.Request, error) {
	req, err := s.cfg.OP.Store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no request with this auth_req_id (never issued, or removed a while after it expired)")
	}
	return req, err
}
