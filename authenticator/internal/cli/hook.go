package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"cibalab/authenticator/device"
	"cibalab/shared/channel"
)

// hookReply is the JSON answer of the approval hook.
type hookReply struct {
	Accepted         bool   `json:"accepted"`
	Verdict          string `json:"verdict,omitempty"`
	ReqRef           string `json:"req_ref,omitempty"`
	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// serveHook serves the approval hook on addr until the returned function
// is called. GET or POST /action?token=AUTH_REQ_ID&type=allow|deny decides
// the request through this device (the automated_ciba_approval_url
// convention of the OpenID Foundation conformance suite for CIBA).
func (r *runner) serveHook(addr string) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r.hookAccepted = make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/action", r.hookAction)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	go srv.Serve(ln)
	r.out.hookListening(ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// hookAction implements /action.
func (r *runner) hookAction(w http.ResponseWriter, req *http.Request) {
	reply := func(status int, v hookReply) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	if req.Method != http.MethodGet && req.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		reply(http.StatusMethodNotAllowed, hookReply{Error: "invalid_request", ErrorDescription: "use GET or POST"})
		return
	}
	req.Body = http.MaxBytesReader(w, req.Body, 16<<10)
	if err := req.ParseForm(); err != nil {
		reply(http.StatusBadRequest, hookReply{Error: "invalid_request", ErrorDescription: "unreadable query or form"})
		return
	}
	token, typ := req.Form.Get("token"), req.Form.Get("type")
	var verdict string
	switch typ {
	case "allow":
		verdict = channel.VerdictApprove
	case "deny":
		verdict = channel.VerdictDeny
	default:
		reply(http.StatusBadRequest, hookReply{Error: "invalid_request", ErrorDescription: "type must be allow or deny"})
		return
	}
	if token == "" || len(token) > 1024 {
		reply(http.StatusBadRequest, hookReply{Error: "invalid_request", ErrorDescription: "token (the auth_req_id) is required"})
		return
	}
	ar := channel.AuthRequest{AuthReqID: token}
	ref := device.ReqRef(token)
	r.out.decisionSent(ar, verdict, amrKeyOnly, "hook")
	err := r.d.Decide(req.Context(), token, verdict, "", amrKeyOnly)
	var refused *device.RefusedError
	switch {
	case err == nil:
		r.out.accepted(ar, verdict)
		select {
		case r.hookAccepted <- struct{}{}:
		default:
		}
		reply(http.StatusOK, hookReply{Accepted: true, Verdict: verdict, ReqRef: ref})
	case errors.As(err, &refused):
		r.out.refused(ar, verdict, refused)
		reply(http.StatusConflict, hookReply{Verdict: verdict, ReqRef: ref, Error: refused.Code, ErrorDescription: refused.Description})
	default:
		reply(http.StatusBadGateway, hookReply{Verdict: verdict, ReqRef: ref, Error: "unavailable", ErrorDescription: "the OP did not answer"})
	}
}
