package ciba

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/cibalab/cibalab/shared/oauth"
)

// ServeHTTP implements the client notification endpoint (CIBA Core 1.0
// §10.2, §10.3, §12): POST, Bearer token of a pending request (401
// otherwise, checked before the body is read), application/json of at
// most MaxBodyBytes, a well-formed body for the request's mode naming its
// auth_req_id (400 otherwise); then 204, written and flushed before the
// notification is queued for Wait.
func (s *NotificationServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, body := s.serve(w, r)
	if s.cfg.Trace != nil {
		s.cfg.Trace(r, body, status)
	}
}

func (s *NotificationServer) serve(w http.ResponseWriter, r *http.Request) (int, []byte) {
	log := s.cfg.Logger
	w.Header().Set("Cache-Control", "no-store")
	reject := func(status int, problem string) (int, []byte) {
		log.WarnContext(r.Context(), "ciba.notification_rejected", "status", status, "problem", problem)
		http.Error(w, problem, status)
		return status, nil
	}
	if r.URL.Path != s.path {
		return reject(http.StatusNotFound, "not the notification endpoint")
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return reject(http.StatusMethodNotAllowed, "POST only")
	}
	token, ok := bearer(r.Header.Get("Authorization"))
	var sub *subscription
	var authReqID string
	if ok {
		sub, authReqID = s.lookup(token)
	}
	if sub == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		return reject(http.StatusUnauthorized, "missing or unknown client_notification_token")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return reject(http.StatusUnsupportedMediaType, "content type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return reject(http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", s.cfg.MaxBodyBytes))
		}
		return reject(http.StatusBadRequest, "cannot read the body")
	}
	n, problem := parseNotification(body, sub.mode)
	if problem != "" {
		status, _ := reject(http.StatusBadRequest, problem)
		return status, body
	}
	if authReqID != "" && n.AuthReqID != authReqID {
		status, _ := reject(http.StatusBadRequest, "unknown auth_req_id: this client_notification_token belongs to another request")
		return status, body
	}
	n.ReceivedAt = s.cfg.Now()
	// Acknowledge first: once queued, the notification may end Wait and
	// the program with it.
	w.WriteHeader(http.StatusNoContent)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	log.InfoContext(r.Context(), "ciba.notification", "mode", string(sub.mode), oauth.LogAttrReq, oauth.ReqRef(n.AuthReqID))
	select {
	case sub.ch <- n:
	default:
		log.WarnContext(r.Context(), "ciba.notification_dropped", oauth.LogAttrReq, oauth.ReqRef(n.AuthReqID))
	}
	return http.StatusNoContent, body
}

// bearer extracts the token of an RFC 6750 §2.1 Authorization header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
