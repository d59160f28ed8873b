package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cibalab/cibalab/authenticator/device"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/oauth"
)

// runList implements "ciba-authenticator list".
func runList(ctx context.Context, o options, e env) (int, *failure) {
	_, d, f := openDevice(ctx, o, e)
	if f != nil {
		return 0, f
	}
	defer d.Close()
	reqs, f := listPending(ctx, d)
	if f != nil {
		return 0, f
	}
	(&printer{w: e.stdout, stderr: e.stderr, json: o.json}).pending(reqs, e.now())
	return ExitOK, nil
}

// runDecideOne implements "ciba-authenticator approve|deny ID".
func runDecideOne(ctx context.Context, o options, e env) (int, *failure) {
	verdict := channel.VerdictApprove
	if o.cmd == "deny" {
		verdict = channel.VerdictDeny
	}
	dev, f := loadOrEnroll(ctx, o, e)
	if f != nil {
		return 0, f
	}
	acr, amr := "", amrKeyOnly
	if verdict == channel.VerdictApprove && dev.HasPIN() {
		pin, err := pinFromFileOrEnv(o, e.getenv)
		if err != nil {
			return 0, fail(ExitUsage, "%v", err)
		}
		if pin == "" {
			if _, ok := terminalFD(e.stdin); !ok {
				return 0, fail(ExitUsage, "approving needs the device PIN: --pin-file or $%s (stdin is not a terminal)", EnvPIN)
			}
			fmt.Fprint(e.stderr, "PIN: ")
			pin, err = readHidden(e.stdin)
			fmt.Fprintln(e.stderr)
			if err != nil {
				return 0, fail(ExitUsage, "%v", err)
			}
		}
		if !dev.CheckPIN(pin) {
			return 0, fail(ExitWrongPIN, "wrong PIN: nothing sent")
		}
		acr, amr = acrPIN, amrPIN
	}
	d, f := connect(ctx, o, e, dev)
	if f != nil {
		return 0, f
	}
	defer d.Close()
	reqs, f := listPending(ctx, d)
	if f != nil {
		return 0, f
	}
	req, ok := find(reqs, o.arg)
	if !ok {
		if len(o.arg) <= 8 {
			return 0, fail(ExitNotPending, "no pending request %s (see %s list)", display(o.arg), Name)
		}
		// A full auth_req_id not listed: let the OP say why (expired,
		// decided, another user's).
		req = channel.AuthRequest{AuthReqID: o.arg}
	}
	p := &printer{w: e.stdout, stderr: e.stderr, json: o.json}
	// With --json, the outcome (decision_accepted or decision_refused) is
	// the one document on stdout; the steps before it are for a person.
	if !o.json {
		p.decisionSent(req, verdict, amr, "command", nil)
	}
	told := false
	err := d.Decide(ctx, req.AuthReqID, verdict, acr, amr, device.OnRetry(func(_ error, lapses time.Time) {
		if !told && !o.json {
			told = true
			p.retrying(req, verdict, lapses.Sub(e.now()))
		}
	}))
	var refused *device.RefusedError
	switch {
	case err == nil:
		p.accepted(req, verdict)
		return ExitOK, nil
	case errors.Is(err, device.ErrNotDelivered):
		return 0, fail(ExitUnexpected, "not delivered: the OP did not answer in time; the decision was not applied")
	case errors.As(err, &refused):
		p.refused(req, verdict, refused)
		if refused.Code == channel.ErrNotPending || refused.Code == channel.ErrNotYourRequest {
			return ExitNotPending, nil
		}
		return ExitRefused, nil
	}
	return 0, fail(ExitUnexpected, "%v", err)
}

// find picks the request named by id: its full auth_req_id, or its short
// reference (oauth.ReqRef), which must be unambiguous.
func find(reqs []channel.AuthRequest, id string) (channel.AuthRequest, bool) {
	var byRef []channel.AuthRequest
	for _, r := range reqs {
		if r.AuthReqID == id {
			return r, true
		}
		if strings.EqualFold(oauth.ReqRef(r.AuthReqID), id) {
			byRef = append(byRef, r)
		}
	}
	if len(byRef) == 1 {
		return byRef[0], true
	}
	return channel.AuthRequest{}, false
}
