package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"cibalab/authenticator/device"
	"cibalab/shared/channel"
)

// Main runs ciba-authenticator with args (without the program name) and
// returns its exit code. getenv reads the environment; nil reads none.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	o, fs, err := parseFlags(args, getenv)
	switch {
	case errors.Is(err, errHelp):
		usage(stdout, fs)
		return ExitOK
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", Name, err, Name)
		return ExitUsage
	}
	password, err := readPassword(o, stdin, stderr, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", Name, err, Name)
		return ExitUsage
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	d, err := device.Connect(ctx, device.Config{
		NATSURL: o.natsURL, Realm: o.realm, User: o.user, DeviceName: Name, Logger: logger,
	}, password)
	if err != nil {
		return connectFailed(ctx, stderr, err)
	}
	defer d.Close()
	shown := redactURL(o.natsURL)
	fmt.Fprintf(stderr, "%s: signed in as %s on %s (realm %s)\n", Name, d.User(), shown, o.realm)

	r := &runner{
		d: d, o: o, now: time.Now, stderr: stderr,
		out: &printer{w: stdout, stderr: stderr, json: o.json},
	}
	r.out.signedIn(d.User(), o.realm, shown, d.KeyID(), d.SessionExpiresAt())
	if o.auto == "" {
		done := make(chan struct{})
		defer close(done)
		r.lines = readLines(stdin, done)
	}
	return r.loop(ctx)
}

// connectFailed reports a failed start and picks its exit code.
func connectFailed(ctx context.Context, stderr io.Writer, err error) int {
	var refused *device.RefusedError
	switch {
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "%s: interrupted\n", Name)
		return ExitInterrupted
	case errors.Is(err, device.ErrBadCredentials):
		fmt.Fprintf(stderr, "%s: sign-in refused: bad credentials\n", Name)
		return ExitSignIn
	case errors.As(err, &refused):
		fmt.Fprintf(stderr, "%s: sign-in refused: %s\n", Name, display(refused.Code+describe(refused.Description)))
		return ExitSignIn
	}
	fmt.Fprintf(stderr, "%s: %v\n", Name, err)
	return ExitUnexpected
}

// redactURL hides a password in a NATS URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// readLines delivers stdin line by line and closes the channel at the end
// of input. It stops sending once done is closed.
func readLines(stdin io.Reader, done <-chan struct{}) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case ch <- sc.Text():
			case <-done:
				return
			}
		}
	}()
	return ch
}

// answer maps a typed line to a verdict; "" means neither.
func answer(line string) string {
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes", "a", "approve":
		return channel.VerdictApprove
	case "n", "no", "d", "deny":
		return channel.VerdictDeny
	}
	return ""
}

// Authentication methods (RFC 8176 §2) claimed by a decision; see the
// package documentation.
var (
	amrInteractive = []string{"pwd"}
	amrScripted    = []string{"swk"}
)

// runner shows requests and sends decisions until done.
type runner struct {
	d      *device.Device
	o      options
	now    func() time.Time
	out    *printer
	stderr io.Writer
	lines  <-chan string // nil with --auto
}

// outcome ends the loop with code when stop is set.
type outcome struct {
	code int
	stop bool
}

func (r *runner) loop(ctx context.Context) int {
	for {
		select {
		case <-ctx.Done():
			return ExitInterrupted
		case req, ok := <-r.d.Requests():
			if !ok {
				fmt.Fprintf(r.stderr, "%s: connection to the OP closed\n", Name)
				return ExitUnexpected
			}
			if res := r.handle(ctx, req); res.stop {
				return res.code
			}
		case line, ok := <-r.lines:
			if !ok {
				return ExitOK // end of input
			}
			if strings.TrimSpace(line) != "" {
				fmt.Fprintf(r.stderr, "%s: no request is waiting for an answer\n", Name)
			}
		}
	}
}

// handle shows one request, gets a verdict and sends it.
func (r *runner) handle(ctx context.Context, req channel.AuthRequest) outcome {
	footer := prompt
	if r.o.auto != "" {
		footer = "auto " + r.o.auto
		if r.o.delay > 0 {
			footer += " in " + r.o.delay.String()
		}
	}
	r.out.request(req, r.now(), footer)
	if r.o.json && r.o.auto == "" {
		fmt.Fprintln(r.stderr, prompt)
	}
	verdict, amr, res := r.verdict(ctx, req)
	if verdict == "" {
		return res
	}
	r.out.decisionSent(req, verdict, amr)
	err := r.d.Decide(ctx, req.AuthReqID, verdict, amr)
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
	}
	fmt.Fprintf(r.stderr, "%s: %v\n", Name, err)
	return outcome{ExitUnexpected, r.o.once}
}

// verdict waits for the decision on req: after --delay with --auto,
// otherwise from stdin until the request expires. An empty verdict comes
// with the outcome to return.
func (r *runner) verdict(ctx context.Context, req channel.AuthRequest) (string, []string, outcome) {
	if r.o.auto != "" {
		if r.o.delay > 0 {
			t := time.NewTimer(r.o.delay)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return "", nil, outcome{ExitInterrupted, true}
			case <-t.C:
			}
		}
		return r.o.auto, amrScripted, outcome{}
	}
	expiry := time.NewTimer(time.Unix(req.ExpiresAt, 0).Sub(r.now()))
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", nil, outcome{ExitInterrupted, true}
		case <-expiry.C:
			r.out.expired(req)
			return "", nil, outcome{}
		case line, ok := <-r.lines:
			if !ok {
				return "", nil, outcome{ExitOK, true}
			}
			if v := answer(line); v != "" {
				return v, amrInteractive, outcome{}
			}
			r.out.reprompt()
		}
	}
}
