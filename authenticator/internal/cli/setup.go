package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cibalab/cibalab/authenticator/device"
	"github.com/cibalab/cibalab/authenticator/devicedir"
	"github.com/cibalab/cibalab/shared/channel"
)

// env is what a command reads and writes besides its options.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	log            *slog.Logger
	now            func() time.Time
	// raw is set while the terminal is in raw mode (see termWriter).
	raw *atomic.Bool
	// program is how the program was invoked (os.Args[0]); "" means
	// bin/ciba-authenticator, as the README builds it.
	program string
}

// command returns a command line running this program with args, quoted
// for a POSIX shell, for the user to copy: by the path it was run by, by
// name when it was found on PATH; without either, from bin/ as the README
// builds it.
func (e env) command(args ...string) string {
	prog := e.program
	if prog == "" {
		prog = "bin/" + Name
	}
	out := []string{shellQuote(prog)}
	for _, a := range args {
		out = append(out, shellQuote(a))
	}
	return strings.Join(out, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@=+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// failure is a message for stderr and the exit code that goes with it.
type failure struct {
	code int
	msg  string
}

func (f *failure) Error() string { return f.msg }

func fail(code int, format string, args ...any) *failure {
	return &failure{code, fmt.Sprintf(format, args...)}
}

// deviceDir is the device directory of o.
func deviceDir(o options) string {
	if o.deviceDir != "" {
		return o.deviceDir
	}
	return devicedir.DefaultPath(o.user)
}

// endpoint resolves the NATS URL and realm: flag or environment, else
// the enrolled ones, else the defaults.
func endpoint(o options, meta *devicedir.Meta) (string, string) {
	url, realm := o.natsURL, o.realm
	if meta != nil {
		if url == "" {
			url = meta.NATSURL
		}
		if realm == "" {
			realm = meta.Realm
		}
	}
	if url == "" {
		url = device.DefaultNATSURL
	}
	if realm == "" {
		realm = device.DefaultRealm
	}
	return url, realm
}

// enroll registers dev's keys for o.user with password and stores the
// result in dev (Save writes it).
func enroll(ctx context.Context, o options, e env, dev *devicedir.Device, password string) *failure {
	url, realm := endpoint(o, nil)
	if dev.NATSURL != "" && o.natsURL == "" {
		url = dev.NATSURL
	}
	if dev.Realm != "" && o.realm == "" {
		realm = dev.Realm
	}
	name := o.deviceName
	if name == "" {
		name = dev.DeviceName
	}
	res, err := device.Enroll(ctx, device.EnrollConfig{NATSURL: url, Realm: realm, User: o.user, DeviceName: name,
		Key: dev.Key, NKey: dev.NKey}, password)
	var refused *device.RefusedError
	switch {
	case ctx.Err() != nil:
		return fail(ExitInterrupted, "interrupted")
	case errors.Is(err, device.ErrBadCredentials):
		reason := ""
		if _, detail, ok := strings.Cut(err.Error(), "bad credentials ("); ok {
			reason = " (" + detail
		}
		return fail(ExitNotAccepted, "enrollment refused: bad credentials%s", reason)
	case errors.As(err, &refused) && refused.Code == channel.ErrDeviceRevoked:
		return fail(ExitNotAccepted, "enrollment refused: this device was revoked; enroll a new one into another --device-dir")
	case errors.As(err, &refused):
		return fail(ExitNotAccepted, "enrollment refused: %s", display(refused.Code+describe(refused.Description)))
	case err != nil:
		return fail(ExitUnexpected, "%v", err)
	}
	dev.Meta = devicedir.Meta{
		DeviceID: res.DeviceID, User: res.User, Realm: realm, NATSURL: url, DeviceName: name,
		RequestsSubject: res.RequestsSubject, PendingSubject: res.PendingSubject,
		DecideSubject: res.DecideSubject, InboxPrefix: res.InboxPrefix,
		EnrolledAt: e.now().UTC(), PINHash: dev.PINHash,
	}
	return nil
}

// loadOrEnroll loads the device directory of o, enrolling a new device on
// the fly when there is none and a password is available.
func loadOrEnroll(ctx context.Context, o options, e env) (*devicedir.Device, *failure) {
	path := deviceDir(o)
	dev, err := devicedir.Load(path)
	var corrupt *devicedir.CorruptError
	switch {
	case errors.As(err, &corrupt):
		return nil, fail(ExitNotAccepted, "%v", err)
	case errors.Is(err, devicedir.ErrNotEnrolled):
		if err := devicedir.CheckNew(path); err != nil {
			return nil, fail(ExitUsage, "%v; choose another --device-dir", err)
		}
		password, err := readPassword(o, e.stdin, e.stderr, e.getenv, true)
		if errors.Is(err, errNoSecret) {
			args := []string{"enroll", "--user", o.user}
			if o.natsURL != "" {
				args = append(args, "--nats-url", o.natsURL)
			}
			if o.deviceDir != "" {
				args = append(args, "--device-dir", o.deviceDir)
			}
			return nil, fail(ExitUsage, "no device enrolled in %s: enroll it with: %s (or give the password with --password-file or $%s to enroll now)", path, e.command(args...), EnvPassword)
		}
		if err != nil {
			return nil, fail(ExitUsage, "%v", err)
		}
		key, nk, err := devicedir.NewKeys()
		if err != nil {
			return nil, fail(ExitUnexpected, "%v", err)
		}
		dev = &devicedir.Device{Path: path, Key: key, NKey: nk}
		if f := enroll(ctx, o, e, dev, password); f != nil {
			return nil, f
		}
		if err := devicedir.Save(dev); err != nil {
			return nil, fail(ExitUnexpected, "%v", err)
		}
		fmt.Fprintf(e.stderr, "%s: enrolled device %s for %s in %s\n", Name, dev.DeviceID, dev.User, path)
	case err != nil:
		return nil, fail(ExitUnexpected, "%v", err)
	}
	if o.userGiven && dev.User != o.user {
		return nil, fail(ExitUsage, "the device in %s belongs to %s, not %s", path, dev.User, o.user)
	}
	return dev, nil
}

// connect connects dev. When NATS refuses the device (the OP forgot it,
// e.g. its state directory was reset) and a password is available, it
// enrolls the same keys again, once; a revoked device stays refused.
func connect(ctx context.Context, o options, e env, dev *devicedir.Device) (*device.Device, *failure) {
	for attempt := 0; ; attempt++ {
		url, realm := endpoint(o, &dev.Meta)
		d, err := device.Connect(ctx, device.Config{
			NATSURL: url, Realm: realm, DeviceName: Name, Logger: e.log, Now: e.now,
			Credentials: device.Credentials{DeviceID: dev.DeviceID, User: dev.User, Key: dev.Key, NKey: dev.NKey},
		})
		var refused *device.RefusedError
		switch {
		case err == nil:
			return d, nil
		case ctx.Err() != nil:
			return nil, fail(ExitInterrupted, "interrupted")
		case errors.Is(err, device.ErrDeviceRefused) && attempt == 0:
			password, perr := readPassword(o, e.stdin, e.stderr, e.getenv, true)
			if perr != nil {
				return nil, fail(ExitNotAccepted, "the OP refused device %s (revoked, or enrolled with another OP); give the password to enroll it again, or enroll a new device", dev.DeviceID)
			}
			old := dev.DeviceID
			if f := enroll(ctx, o, e, dev, password); f != nil {
				return nil, f
			}
			if err := devicedir.Save(dev); err != nil {
				return nil, fail(ExitUnexpected, "%v", err)
			}
			fmt.Fprintf(e.stderr, "%s: the OP did not know device %s: enrolled it again as %s\n", Name, old, dev.DeviceID)
			continue
		case errors.Is(err, device.ErrDeviceRefused):
			return nil, fail(ExitNotAccepted, "the OP refused device %s", dev.DeviceID)
		case errors.As(err, &refused) && (refused.Code == channel.ErrDeviceRevoked || refused.Code == channel.ErrUnknownDevice):
			return nil, fail(ExitNotAccepted, "the OP refused device %s: %s", dev.DeviceID, display(refused.Code))
		case errors.As(err, &refused):
			return nil, fail(ExitRefused, "the OP refused: %s", display(refused.Code+describe(refused.Description)))
		}
		return nil, fail(ExitUnexpected, "%v", err)
	}
}

// logDestination is where logs go: the --log-file, created 0600 and
// appended to; else nowhere when cardScreen (cards are drawn on a
// terminal and stderr is a terminal too, taken to be the same screen: a
// log line would land inside a card);
// else stderr. The returned function closes the file.
func logDestination(o options, stderr io.Writer, cardScreen bool) (io.Writer, func(), error) {
	switch {
	case o.logFile != "":
		f, err := os.OpenFile(o.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, err
		}
		return f, func() { f.Close() }, nil
	case cardScreen:
		return io.Discard, func() {}, nil
	}
	return stderr, func() {}, nil
}

// openDevice loads the device (enrolling it on the fly when a password is
// at hand) and connects it to the OP. The caller closes the connection.
func openDevice(ctx context.Context, o options, e env) (*devicedir.Device, *device.Device, *failure) {
	dev, f := loadOrEnroll(ctx, o, e)
	if f != nil {
		return nil, nil, f
	}
	d, f := connect(ctx, o, e, dev)
	if f != nil {
		return nil, nil, f
	}
	return dev, d, nil
}

// listPending asks the OP for the user's pending requests.
func listPending(ctx context.Context, d *device.Device) ([]channel.AuthRequest, *failure) {
	reqs, err := d.Pending(ctx)
	if err != nil {
		return nil, fail(ExitUnexpected, "%v", err)
	}
	return reqs, nil
}
