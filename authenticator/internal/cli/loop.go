package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cibalab/cibalab/authenticator/device"
	"github.com/cibalab/cibalab/authenticator/devicedir"
	"github.com/cibalab/cibalab/shared/channel"
)

// Authentication context of decisions (RFC 8176 §2 amr values; the acr
// the OP advertises for a PIN). See the package documentation.
const acrPIN = "urn:cibalab:acr:pin"

var (
	amrPIN      = []string{"pin", "swk"}
	amrKeyOnly  = []string{"swk"}
	maxPINTries = 3
)

// runner shows requests and sends decisions until done.
type runner struct {
	d     *device.Device
	dev   *devicedir.Device
	o     options
	e     env
	rules *rules
	now   func() time.Time
	out   *printer
	tty   bool
	input <-chan key // lines, or keys on a terminal
	// hookAccepted receives a decision the approval hook got accepted.
	hookAccepted chan struct{}
	// hookSecret is the approval hook's per-run path secret.
	hookSecret string

	// The scripted decisions running beside the loop (see concurrent),
	// owned by the loop: how many, each one's closures by auth_req_id
	// while it waits its delay, and where each reports its end.
	running  int
	waiting  map[string]chan device.Closure
	finished chan finished
	wg       sync.WaitGroup
	// lastSent is closed once the latest scripted decision was sent (or
	// will not be): the next is sent after it (device.InTurn).
	lastSent chan struct{}
}

// maxConcurrent bounds the scripted decisions running at once; the loop
// takes no new request while that many run.
const maxConcurrent = 16

// finished is the end of a scripted decision running beside the loop.
type finished struct {
	authReqID string
	res       outcome
}

// outcome ends the loop with code when stop is set.
type outcome struct {
	code int
	stop bool
}

func (r *runner) loop(ctx context.Context) int {
	ctx, cancel := context.WithCancel(ctx)
	r.waiting, r.finished = map[string]chan device.Closure{}, make(chan finished)
	r.lastSent = make(chan struct{})
	close(r.lastSent)
	code := r.serve(ctx)
	// The scripted decisions still running end with the loop.
	cancel()
	r.wg.Wait()
	return code
}

// serve is the loop of loop.
func (r *runner) serve(ctx context.Context) int {
	for {
		requests := r.d.Requests()
		if r.running >= maxConcurrent {
			requests = nil
		}
		select {
		case <-ctx.Done():
			return ExitInterrupted
		case <-r.hookAccepted:
			if r.o.once {
				return ExitOK
			}
		case c := <-r.closures():
			// The card of a scripted decision waiting its delay is taken
			// away; any other card was decided already.
			if w, ok := r.waiting[c.AuthReqID]; ok {
				delete(r.waiting, c.AuthReqID)
				w <- c
			}
		case f := <-r.finished:
			r.running--
			delete(r.waiting, f.authReqID)
			if f.res.stop {
				return f.res.code
			}
		case req, ok := <-requests:
			if !ok {
				return r.lost()
			}
			if res := r.handle(ctx, req); res.stop {
				return res.code
			}
		case k, ok := <-r.input:
			in := k.s
			if !ok {
				if r.o.auto != "" || r.rules != nil || r.o.hookListen != "" {
					r.input = nil // scripted: stdin does not matter
					continue
				}
				return ExitOK // end of input
			}
			if in == keyInterrupt {
				return ExitInterrupted
			}
			if strings.TrimSpace(in) != "" {
				r.out.note("no request is waiting for an answer")
			}
		}
	}
}

// lost reports the end of the connection.
func (r *runner) lost() int {
	if r.d.Refused() {
		fmt.Fprintf(r.e.stderr, "%s: the OP refused device %s: it was revoked\n", Name, r.d.ID())
		return ExitNotAccepted
	}
	fmt.Fprintf(r.e.stderr, "%s: connection to the OP closed\n", Name)
	return ExitUnexpected
}

// plan is what to do with a request: an action (approve, deny, ignore,
// ask) after a delay.
func (r *runner) plan(req channel.AuthRequest) (string, time.Duration) {
	if rule := r.rules.match(req); rule != nil {
		return rule.Action, rule.delay
	}
	if r.o.auto != "" {
		return r.o.auto, r.o.delay
	}
	return actionAsk, 0
}

// handle shows one request, gets a verdict and sends it.
func (r *runner) handle(ctx context.Context, req channel.AuthRequest) outcome {
	action, delay := r.plan(req)
	footer := prompt
	if r.tty {
		footer = keyPrompt
	}
	if len(req.AuthorizationDetails) > 1 {
		footer = detailsPrompt
		if r.tty {
			footer += " / [s]kip"
		}
	}
	switch action {
	case actionIgnore:
		footer = "ignored: it will expire"
	case channel.VerdictApprove, channel.VerdictDeny:
		footer = "auto " + action
		if delay > 0 {
			footer += " in " + delay.String()
		}
	}
	if action == actionAsk && r.tty {
		// Keys typed before this card was shown answer something else.
		if r.drainKeys() {
			return outcome{ExitInterrupted, true}
		}
	}
	// The card counts as shown from just before it is printed: a key read
	// once it is on screen must never be taken for one typed ahead.
	shown := r.now()
	r.out.request(req, shown, footer)
	if action == actionIgnore {
		r.out.ignored(req)
		return outcome{}
	}
	var verdict, acr string
	var amr []string
	var approved []int // authorization_details entries approved; nil for all
	if action == actionAsk {
		if r.o.json {
			if len(req.AuthorizationDetails) > 1 {
				fmt.Fprintln(r.e.stderr, detailsPrompt)
			} else {
				fmt.Fprintln(r.e.stderr, prompt)
			}
		}
		var res outcome
		verdict, acr, amr, res = r.ask(ctx, req, shown, &approved)
		if verdict == "" {
			return res
		}
	} else if r.concurrent() {
		r.start(ctx, req, action, delay)
		return outcome{}
	} else {
		if delay > 0 {
			t := time.NewTimer(delay)
			defer t.Stop()
		wait:
			for {
				select {
				case <-ctx.Done():
					return outcome{ExitInterrupted, true}
				case c := <-r.closures():
					if c.AuthReqID == req.AuthReqID {
						r.out.closed(req, c, r.d.ID())
						return outcome{}
					}
				case <-t.C:
					break wait
				}
			}
		}
		verdict, amr = action, amrKeyOnly
	}
	return r.send(ctx, req, verdict, acr, amr, approved)
}

// concurrent reports whether scripted decisions run beside the loop, so
// that several requests are decided at once rather than one after the
// other: with --auto approve|deny and no rules (a rule may ask the
// person, who answers one card at a time), and not with --once, which
// ends at the first decision accepted. Each card is still shown once, by
// the loop, in the order the requests come.
func (r *runner) concurrent() bool {
	return r.rules == nil && !r.o.once && r.finished != nil &&
		(r.o.auto == channel.VerdictApprove || r.o.auto == channel.VerdictDeny)
}

// start decides req with verdict after delay beside the loop, unless the
// request closes meanwhile (the loop hands its closure over), and reports
// the end to the loop. Decisions are sent in the order of the cards, each
// once the one before is on the wire, and their answers awaited together.
func (r *runner) start(ctx context.Context, req channel.AuthRequest, verdict string, delay time.Duration) {
	var closed chan device.Closure
	if delay > 0 {
		closed = make(chan device.Closure, 1)
		r.waiting[req.AuthReqID] = closed
	}
	turn, sent := r.lastSent, make(chan struct{})
	r.lastSent = sent
	var once sync.Once
	done := func() { once.Do(func() { close(sent) }) }
	r.running++
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer done()
		res := r.delayed(ctx, req, verdict, delay, closed, device.InTurn(turn, done))
		select {
		case r.finished <- finished{req.AuthReqID, res}:
		case <-ctx.Done():
		}
	}()
}

// delayed waits delay, then sends verdict on req, unless req closes
// (closed) or ctx ends first.
func (r *runner) delayed(ctx context.Context, req channel.AuthRequest, verdict string, delay time.Duration, closed <-chan device.Closure, opts ...device.DecideOption) outcome {
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return outcome{ExitInterrupted, true}
		case c := <-closed:
			r.out.closed(req, c, r.d.ID())
			return outcome{}
		case <-t.C:
		}
	}
	return r.send(ctx, req, verdict, "", amrKeyOnly, nil, opts...)
}

// send sends a decision and reports the OP's answer; approved, when not
// nil, are the only authorization_details entries an approval grants.
func (r *runner) send(ctx context.Context, req channel.AuthRequest, verdict, acr string, amr []string, approved []int, opts ...device.DecideOption) outcome {
	if approved != nil {
		opts = append(opts, device.ApproveOnly(approved))
	}
	r.out.decisionSent(req, verdict, amr, "device", approved)
	told := false
	err := r.d.Decide(ctx, req.AuthReqID, verdict, acr, amr, append(opts, device.OnRetry(func(_ error, lapses time.Time) {
		if !told {
			told = true
			r.out.retrying(req, verdict, lapses.Sub(r.now()))
		}
	}))...)
	var refused *device.RefusedError
	switch {
	case err == nil:
		r.out.accepted(req, verdict)
		return outcome{ExitOK, r.o.once}
	case errors.As(err, &refused):
		r.out.refused(req, verdict, refused)
		return outcome{ExitRefused, r.o.once}
	case ctx.Err() != nil:
		return outcome{ExitInterrupted, true}
	case errors.Is(err, device.ErrNotDelivered):
		r.out.notDelivered(req, verdict)
		return outcome{ExitUnexpected, r.o.once}
	}
	fmt.Fprintf(r.e.stderr, "%s: %v\n", Name, err)
	return outcome{ExitUnexpected, r.o.once}
}

// closures are the device's closures (device.Device.Closed); nil, which
// never delivers, without a device.
func (r *runner) closures() <-chan device.Closure {
	if r.d == nil {
		return nil
	}
	return r.d.Closed()
}
