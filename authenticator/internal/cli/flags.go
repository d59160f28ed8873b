package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"cibalab/authenticator/device"
	"cibalab/shared/channel"
)

// Exit codes of ciba-authenticator.
const (
	ExitOK          = 0
	ExitUnexpected  = 1
	ExitUsage       = 2
	ExitSignIn      = 5
	ExitRefused     = 6
	ExitInterrupted = 130
)

// Name is the command's name, the prefix of its messages.
const Name = "ciba-authenticator"

// EnvPassword is the environment variable holding the user's password when
// no password file is given.
const EnvPassword = "CIBA_AUTH_PASSWORD"

// options are the parsed flags.
type options struct {
	natsURL      string
	realm        string
	user         string
	passwordFile string
	auto         string
	delay        time.Duration
	once         bool
	json         bool
	logLevel     slog.Level
}

// envName is the environment variable of flag name.
func envName(name string) string {
	return "CIBA_AUTH_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// errHelp reports that --help was asked for.
var errHelp = errors.New("help requested")

// parseFlags parses args, then fills each flag not given from its
// environment variable.
func parseFlags(args []string, getenv func(string) string) (options, *flag.FlagSet, error) {
	var o options
	fs := flag.NewFlagSet(Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.natsURL, "nats-url", device.DefaultNATSURL, "`URL` of the NATS server of the OP")
	fs.StringVar(&o.realm, "realm", device.DefaultRealm, "OP realm `name`")
	fs.StringVar(&o.user, "user", "user", "user `id` to sign in as")
	fs.StringVar(&o.passwordFile, "password-file", "", "`file` holding the user's password (else $"+EnvPassword+", else a prompt on a terminal)")
	fs.StringVar(&o.auto, "auto", "", "decide every request without asking: `approve|deny`")
	fs.DurationVar(&o.delay, "delay", 0, "wait this `duration` before an automatic decision, e.g. 2s")
	fs.BoolVar(&o.once, "once", false, "exit after the first decision the OP accepted")
	fs.BoolVar(&o.json, "json", false, "print JSON Lines events on stdout instead of text")
	level := fs.String("log-level", "warn", "log `level` on stderr: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, fs, errHelp
		}
		return o, fs, err
	}
	if fs.NArg() > 0 {
		return o, fs, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if given[f.Name] || v == "" || envErr != nil {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			envErr = fmt.Errorf("invalid $%s: %v", envName(f.Name), err)
		}
	})
	if envErr != nil {
		return o, fs, envErr
	}
	if err := o.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return o, fs, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", *level)
	}
	switch o.auto {
	case "", channel.VerdictApprove, channel.VerdictDeny:
	default:
		return o, fs, fmt.Errorf("--auto must be approve or deny, not %q", o.auto)
	}
	if o.delay < 0 {
		return o, fs, errors.New("--delay must not be negative")
	}
	if o.user == "" {
		return o, fs, errors.New("--user must not be empty")
	}
	if err := channel.ValidRealm(o.realm); err != nil {
		return o, fs, fmt.Errorf("--realm: %v", err)
	}
	return o, fs, nil
}

// usage writes the --help text.
func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, `Usage: %s [flags]

Simulates a user's authentication device for OpenID Connect CIBA: signs in
to the OP over NATS, shows each authentication request (client, scope,
binding message) and sends the user's approval or denial, signed with a
device key generated at start.

Interactive: answer y/yes/a/approve or n/no/d/deny on stdin; end of input
exits. Scripted: --auto approve|deny. Decisions carry amr ["pwd"] when
interactive, ["swk"] when scripted.

Flags (each can also be set with the environment variable shown; a flag
wins over the environment, which wins over the default):
`, Name)
	fs.VisitAll(func(f *flag.Flag) {
		arg, desc := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if arg != "" {
			line += " " + arg
		}
		fmt.Fprintf(w, "%s\n      %s", line, desc)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0s" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, " [$%s]\n", envName(f.Name))
	})
	fmt.Fprintf(w, `
Environment:
  %s  the user's password, used when no password file is given

Once signed in and listening, one line goes to stderr:
  %s: signed in as USER on URL (realm REALM)

EXIT CODES
  0    success; with --once, the OP accepted a decision; end of stdin
  1    unexpected error (NATS unreachable, no OP answering, ...)
  2    usage error (bad flag, no password available)
  5    sign-in refused by the OP (bad credentials)
  6    with --once, the OP refused the decision
  130  interrupted
`, EnvPassword, Name)
}
