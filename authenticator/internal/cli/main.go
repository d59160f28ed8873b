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
	"sync/atomic"
	"time"

	"cibalab/authenticator/device"
	"cibalab/authenticator/devicedir"
	"cibalab/shared/channel"
)

// Main runs ciba-authenticator with args (without the program name) and
// returns its exit code. getenv reads the environment; nil reads none.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return run(ctx, args, stdin, stdout, stderr, getenv, nil)
}

// run is Main with the terminal decision injectable: tty nil means
// "stdin and stdout are both terminals".
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string, tty *bool) int {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	o, fs, err := parseFlags(args, getenv)
	switch {
	case errors.Is(err, errHelp):
		usage(stdout, o.cmd, fs)
		return ExitOK
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", Name, err, Name)
		return ExitUsage
	}
	// The cards' terminal: stdin and stdout both terminals.
	isTTY, stderrTTY := tty != nil && *tty, tty != nil && *tty
	if tty == nil {
		_, in := terminalFD(stdin)
		_, out := terminalFD(stdoutAsReader(stdout))
		_, errTTY := terminalFD(stdoutAsReader(stderr))
		isTTY, stderrTTY = in && out, errTTY
	}
	raw := &atomic.Bool{}
	stdout, stderr = &termWriter{w: stdout, raw: raw}, &termWriter{w: stderr, raw: raw}
	logOut, closeLog, err := logDestination(o, stderr, o.cmd == "" && isTTY && stderrTTY)
	if err != nil {
		fmt.Fprintf(stderr, "%s: --log-file: %v\n", Name, err)
		return ExitUsage
	}
	defer closeLog()
	e := env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now, raw: raw,
		log: slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: o.logLevel}))}
	var code int
	var f *failure
	switch o.cmd {
	case "enroll":
		code, f = runEnroll(ctx, o, e)
	case "list":
		code, f = runList(ctx, o, e)
	case "approve", "deny":
		code, f = runDecideOne(ctx, o, e)
	default:
		code, f = runDevice(ctx, o, e, isTTY)
	}
	if f != nil {
		if ctx.Err() != nil {
			f = fail(ExitInterrupted, "interrupted")
		}
		fmt.Fprintf(stderr, "%s: %s\n", Name, f.msg)
		if o.json && f.code != ExitInterrupted {
			(&printer{w: stdout, stderr: stderr, json: true}).event("error", map[string]any{"error": f.msg, "exit_code": f.code})
		}
		return f.code
	}
	return code
}

// stdoutAsReader lets terminalFD test stdout (it only needs Fd).
func stdoutAsReader(w io.Writer) io.Reader {
	if f, ok := w.(interface{ Fd() uintptr }); ok {
		return fdOnly{f}
	}
	return nil
}

type fdOnly struct{ f interface{ Fd() uintptr } }

func (fdOnly) Read([]byte) (int, error) { return 0, io.EOF }
func (x fdOnly) Fd() uintptr            { return x.f.Fd() }

// runEnroll implements "ciba-authenticator enroll".
func runEnroll(ctx context.Context, o options, e env) (int, *failure) {
	path := deviceDir(o)
	if devicedir.Exists(path) {
		return 0, fail(ExitUsage, "%s already holds an enrolled device; choose another --device-dir", path)
	}
	if err := devicedir.CheckNew(path); err != nil {
		return 0, fail(ExitUsage, "%v; choose another --device-dir", err)
	}
	password, err := readPassword(o, e.stdin, e.stderr, e.getenv, true)
	if errors.Is(err, errNoSecret) {
		return 0, fail(ExitUsage, "no password: use --password-file or $%s (stdin is not a terminal)", EnvPassword)
	}
	if err != nil {
		return 0, fail(ExitUsage, "%v", err)
	}
	pin, err := newPIN(o, e)
	if err != nil {
		return 0, fail(ExitUsage, "%v", err)
	}
	key, nk, err := devicedir.NewKeys()
	if err != nil {
		return 0, fail(ExitUnexpected, "%v", err)
	}
	dev := &devicedir.Device{Path: path, Key: key, NKey: nk}
	if err := dev.SetPIN(pin, 0); err != nil {
		return 0, fail(ExitUnexpected, "%v", err)
	}
	if f := enroll(ctx, o, e, dev, password); f != nil {
		return 0, f
	}
	if err := devicedir.Save(dev); err != nil {
		return 0, fail(ExitUnexpected, "%v", err)
	}
	p := &printer{w: e.stdout, stderr: e.stderr, json: o.json}
	if o.json {
		p.event(EventEnrolled, map[string]any{"device_id": dev.DeviceID, "user": dev.User, "realm": dev.Realm,
			"nats_url": redactURL(dev.NATSURL), "device_dir": path, "key_id": dev.KeyID, "pin": dev.HasPIN()})
	} else {
		pinNote := "no PIN"
		if dev.HasPIN() {
			pinNote = "PIN set"
		}
		fmt.Fprintf(e.stdout, "enrolled device %s for %s in %s (%s)\n", dev.DeviceID, dev.User, path, pinNote)
	}
	return ExitOK, nil
}

// newPIN is the PIN to set at enrollment: --pin-file, $CIBA_AUTH_PIN, a
// prompt on a terminal (empty for none), else none.
func newPIN(o options, e env) (string, error) {
	pin, err := pinFromFileOrEnv(o, e.getenv)
	if err != nil || pin != "" {
		return pin, err
	}
	if _, ok := terminalFD(e.stdin); !ok {
		return "", nil
	}
	fmt.Fprint(e.stderr, "New device PIN (empty for none): ")
	pin, err = readHidden(e.stdin)
	fmt.Fprintln(e.stderr)
	if err != nil || pin == "" {
		return "", err
	}
	fmt.Fprint(e.stderr, "Repeat the PIN: ")
	again, err := readHidden(e.stdin)
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", err
	}
	if again != pin {
		return "", errors.New("the two PINs differ")
	}
	return pin, nil
}

// runDevice implements the default command: show requests and decide.
func runDevice(ctx context.Context, o options, e env, tty bool) (int, *failure) {
	var rs *rules
	if o.rulesFile != "" {
		var err error
		if rs, err = loadRules(o.rulesFile); err != nil {
			return 0, fail(ExitUsage, "%v", err)
		}
	}
	dev, f := loadOrEnroll(ctx, o, e)
	if f != nil {
		return 0, f
	}
	d, f := connect(ctx, o, e, dev)
	if f != nil {
		return 0, f
	}
	defer d.Close()
	url, realm := endpoint(o, &dev.Meta)
	shown := redactURL(url)
	fmt.Fprintf(e.stderr, "%s: signed in as %s on %s (realm %s, device %s)\n", Name, d.User(), shown, realm, d.ID())
	r := &runner{
		d: d, dev: dev, o: o, e: e, rules: rs, now: e.now, tty: tty,
		out: &printer{w: e.stdout, stderr: e.stderr, json: o.json},
	}
	r.out.signedIn(d.User(), realm, shown, d.ID(), d.KeyID())
	if o.hookListen != "" {
		if f := hookPIN(o, e, dev); f != nil {
			return 0, f
		}
		stop, err := r.serveHook(o.hookListen)
		if err != nil {
			return 0, fail(ExitUsage, "--approval-hook-listen: %v", err)
		}
		defer stop()
	}
	done := make(chan struct{})
	defer close(done)
	if tty {
		restore := r.enterRaw()
		defer restore()
		r.input = readKeys(e.stdin, e.now, done)
	} else {
		r.input = readLines(e.stdin, e.now, done)
	}
	return r.loop(ctx), nil
}

// hookPIN refuses the approval hook on a device with a PIN unless the PIN
// is at hand (--pin-file or $CIBA_AUTH_PIN) and right: the hook approves
// with the PIN, as the person would.
func hookPIN(o options, e env, dev *devicedir.Device) *failure {
	if !dev.HasPIN() {
		return nil
	}
	pin, err := pinFromFileOrEnv(o, e.getenv)
	switch {
	case err != nil:
		return fail(ExitUsage, "%v", err)
	case pin == "":
		return fail(ExitUsage, "--approval-hook-listen: the device has a PIN: give it with --pin-file or $%s", EnvPIN)
	case !dev.CheckPIN(pin):
		return fail(ExitWrongPIN, "--approval-hook-listen: wrong PIN: the hook was not started")
	}
	return nil
}

// redactURL hides a password in a NATS URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// readLines delivers stdin line by line, each with the time it was read,
// and closes the channel at the end of input. It stops sending once done
// is closed.
func readLines(stdin io.Reader, now func() time.Time, done <-chan struct{}) <-chan key {
	ch := make(chan key)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			k := key{sc.Text(), now()}
			select {
			case ch <- k:
			case <-done:
				return
			}
		}
	}()
	return ch
}

// answer maps a typed line (or, on a terminal, a key) to a verdict; ""
// means neither.
func answer(line string) string {
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes", "a", "approve":
		return channel.VerdictApprove
	case "n", "no", "d", "deny":
		return channel.VerdictDeny
	}
	return ""
}

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
		case <-r.hookAccepted:
			if r.o.once {
				return ExitOK
			}
		case <-r.closures():
			// No card is shown: nothing to take away.
		case req, ok := <-r.d.Requests():
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
	r.out.request(req, r.now(), footer)
	shown := r.now()
	if action == actionIgnore {
		r.out.ignored(req)
		return outcome{}
	}
	var verdict, acr string
	var amr []string
	if action == actionAsk {
		if r.o.json {
			fmt.Fprintln(r.e.stderr, prompt)
		}
		var res outcome
		verdict, acr, amr, res = r.ask(ctx, req, shown)
		if verdict == "" {
			return res
		}
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
	return r.send(ctx, req, verdict, acr, amr)
}

// send sends a decision and reports the OP's answer.
func (r *runner) send(ctx context.Context, req channel.AuthRequest, verdict, acr string, amr []string) outcome {
	r.out.decisionSent(req, verdict, amr, "device")
	told := false
	err := r.d.Decide(ctx, req.AuthReqID, verdict, acr, amr, device.OnRetry(func(_ error, lapses time.Time) {
		if !told {
			told = true
			r.out.retrying(req, verdict, lapses.Sub(r.now()))
		}
	}))
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

// drainKeys discards the keys already typed, reporting whether one was
// Ctrl-C.
func (r *runner) drainKeys() bool {
	for {
		select {
		case k, ok := <-r.input:
			if !ok {
				return false
			}
			if k.s == keyInterrupt {
				return true
			}
		default:
			return false
		}
	}
}

// ask waits for the person's answer on req, whose card was shown at
// shown, until it expires; approving asks for the PIN when the device has
// one. On a terminal a key read before shown is ignored: the person
// cannot have meant this card (CIBA Core 1.0 §8: the user authorizes
// after seeing the request). An empty verdict comes with the outcome to
// return.
func (r *runner) ask(ctx context.Context, req channel.AuthRequest, shown time.Time) (string, string, []string, outcome) {
	expiry := time.NewTimer(time.Unix(req.ExpiresAt, 0).Sub(r.now()))
	defer expiry.Stop()
	var tick <-chan time.Time
	if r.tty {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
		r.out.countdown(req.SecondsLeft(r.now()))
	}
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return "", "", nil, outcome{ExitInterrupted, true}
		case <-tick:
			r.out.countdown(req.SecondsLeft(r.now()))
		case c := <-r.closures():
			if c.AuthReqID != req.AuthReqID {
				continue
			}
			r.out.endCountdown(r.tty)
			r.out.closed(req, c, r.d.ID())
			return "", "", nil, outcome{}
		case <-expiry.C:
			r.out.endCountdown(r.tty)
			r.out.expired(req)
			return "", "", nil, outcome{}
		case k, ok := <-r.input:
			in := k.s
			if !ok {
				return "", "", nil, outcome{ExitOK, true}
			}
			if in == keyInterrupt {
				return "", "", nil, outcome{ExitInterrupted, true}
			}
			if r.tty && k.at.Before(shown) {
				continue // typed ahead, before this card was shown
			}
			if r.tty && strings.EqualFold(in, "s") {
				r.out.endCountdown(true)
				r.out.ignored(req)
				return "", "", nil, outcome{}
			}
			v := answer(in)
			if v == "" {
				if !r.tty {
					r.out.reprompt()
				}
				continue
			}
			r.out.endCountdown(r.tty)
			if v == channel.VerdictDeny || !r.dev.HasPIN() {
				return v, "", amrKeyOnly, outcome{}
			}
			ok, res := r.checkPIN(ctx)
			if res.stop {
				return "", "", nil, res
			}
			if ok {
				return v, acrPIN, amrPIN, outcome{}
			}
			failures++
			r.out.pinRefused(req, maxPINTries-failures)
			if failures >= maxPINTries {
				r.out.note("too many wrong PINs: nothing sent; the request stays pending")
				return "", "", nil, outcome{}
			}
			if r.tty {
				r.out.countdown(req.SecondsLeft(r.now()))
			}
		}
	}
}

// checkPIN asks for the device PIN (--pin-file, $CIBA_AUTH_PIN, else typed
// on the terminal or as the next line) and checks it.
func (r *runner) checkPIN(ctx context.Context) (bool, outcome) {
	pin, err := pinFromFileOrEnv(r.o, r.e.getenv)
	if err != nil {
		r.out.note(err.Error())
		return false, outcome{}
	}
	if pin == "" {
		r.out.askPIN(r.tty)
		var res outcome
		pin, res = r.readPIN(ctx)
		if res.stop {
			return false, res
		}
	}
	return r.dev.CheckPIN(pin), outcome{}
}

// readPIN reads a PIN from the input: a line, or keys up to Enter on a
// terminal (echoed as dots).
func (r *runner) readPIN(ctx context.Context) (string, outcome) {
	var b strings.Builder
	for {
		select {
		case <-ctx.Done():
			return "", outcome{ExitInterrupted, true}
		case k, ok := <-r.input:
			in := k.s
			switch {
			case !ok:
				return "", outcome{ExitOK, true}
			case in == keyInterrupt:
				return "", outcome{ExitInterrupted, true}
			case !r.tty:
				return strings.TrimSpace(in), outcome{}
			case in == "\r" || in == "\n":
				r.out.endPIN()
				return b.String(), outcome{}
			case in == "\x7f" || in == "\b":
				if s := b.String(); s != "" {
					b.Reset()
					b.WriteString(s[:len(s)-1])
					r.out.erase()
				}
			case len(in) == 1 && in[0] >= 0x20:
				b.WriteString(in)
				r.out.dot()
			}
		}
	}
}
