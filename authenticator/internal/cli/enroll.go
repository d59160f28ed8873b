package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/cibalab/cibalab/authenticator/devicedir"
)

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
