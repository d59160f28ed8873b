package cli

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/cibalab/cibalab/authenticator/device"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// hookReply is the JSON answer of the approval hook.
type hookReply struct {
	Accepted         bool   `json:"accepted"`
	Verdict          string `json:"verdict,omitempty"`
	ReqRef           string `json:"req,omitempty"`
	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// hookSecretBytes is the size of the approval hook's per-run secret.
const hookSecretBytes = 32

// serveHook serves the approval hook on addr until the returned function
// is called: POST /action/SECRET?token=AUTH_REQ_ID&type=allow|deny decides
// the request through this device (the automated_ciba_approval_url
// convention of the OpenID Foundation conformance suite for CIBA). SECRET
// is random, made for this run and printed on stderr, so that only who
// started the device can decide through it. On a device with a PIN, an
// approval checks the PIN of --pin-file or $CIBA_AUTH_PIN, as an
// interactive one does.
func (r *runner) serveHook(addr string) (func(), error) {
	b := make([]byte, hookSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	r.hookSecret = base64.RawURLEncoding.EncodeToString(b)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r.hookAccepted = make(chan struct{}, 1)
	srv := &http.Server{Handler: http.HandlerFunc(r.hookAction), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
	go srv.Serve(ln)
	r.out.hookListening(ln.Addr().String(), r.hookSecret)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// hookAction implements /action/SECRET.
func (r *runner) hookAction(w http.ResponseWriter, req *http.Request) {
	reply := func(status int, v hookReply) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	secret, found := strings.CutPrefix(req.URL.Path, "/action/")
	if !found || subtle.ConstantTimeCompare([]byte(secret), []byte(r.hookSecret)) != 1 {
		reply(http.StatusNotFound, hookReply{Error: "not_found", ErrorDescription: "use the approval hook URL printed at start"})
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(http.StatusMethodNotAllowed, hookReply{Error: "invalid_request", ErrorDescription: "use POST"})
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
	ref := oauth.ReqRef(token)
	acr, amr := "", amrKeyOnly
	if verdict == channel.VerdictApprove && r.dev.HasPIN() {
		pin, err := pinFromFileOrEnv(r.o, r.e.getenv)
		if err != nil || !r.dev.CheckPIN(pin) {
			r.out.note("approval hook: wrong PIN: " + ref + " not approved, nothing sent")
			reply(http.StatusForbidden, hookReply{Verdict: verdict, ReqRef: ref, Error: "wrong_pin", ErrorDescription: "the device PIN did not match: nothing sent"})
			return
		}
		acr, amr = acrPIN, amrPIN
	}
	r.out.decisionSent(ar, verdict, amr, "hook", nil)
	err := r.d.Decide(req.Context(), token, verdict, acr, amr)
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
	case errors.Is(err, device.ErrNotDelivered):
		r.out.notDelivered(ar, verdict)
		reply(http.StatusBadGateway, hookReply{Verdict: verdict, ReqRef: ref, Error: "unavailable", ErrorDescription: "the OP did not answer in time: the decision was not applied"})
	default:
		reply(http.StatusBadGateway, hookReply{Verdict: verdict, ReqRef: ref, Error: "unavailable", ErrorDescription: "the OP did not answer"})
	}
}
