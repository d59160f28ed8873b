package cli

import (
	"context"
	"fmt"
	"net/url"

	"github.com/cibalab/cibalab/authenticator/devicedir"
)

// runDevice implements the default command: show requests and decide.
func runDevice(ctx context.Context, o options, e env, tty bool) (int, *failure) {
	var rs *rules
	if o.rulesFile != "" {
		var err error
		if rs, err = loadRules(o.rulesFile); err != nil {
			return 0, fail(ExitUsage, "%v", err)
		}
	}
	dev, d, f := openDevice(ctx, o, e)
	if f != nil {
		return 0, f
	}
	defer d.Close()
	url, realm := endpoint(o, &dev.Meta)
	shown := redactURL(url)
	fmt.Fprintf(e.stderr, "%s: signed in as %s on %s (realm %s, device %s)\n", Name, d.User(), shown, realm, d.ID())
	r := &runner{
		d: d, dev: dev, o: o, e: e, rules: rs, now: e.now, tty: tty,
		out: &printer{w: e.stdout, stderr: e.stderr, json: o.json, hasPIN: dev.HasPIN()},
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
	if usesPhone(o, tty) {
		return r.runPhone(ctx), nil
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
