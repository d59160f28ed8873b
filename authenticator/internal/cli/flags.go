package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/cibalab/cibalab/authenticator/device"
	"github.com/cibalab/cibalab/shared/channel"
	"github.com/cibalab/cibalab/shared/cliconv"
	"github.com/cibalab/cibalab/shared/logfmt"
)

// Exit codes of ciba-authenticator: those of the table the three programs
// share (docs/cli.md).
const (
	ExitOK          = cliconv.ExitOK
	ExitUnexpected  = cliconv.ExitError
	ExitUsage       = cliconv.ExitUsage
	ExitNotPending  = cliconv.ExitExpired  // no such pending request: expired, decided, unknown
	ExitNotAccepted = cliconv.ExitRefused  // the OP refused the device's credentials
	ExitRefused     = cliconv.ExitRejected // the OP refused the decision
	ExitWrongPIN    = cliconv.ExitWrongPIN
	ExitInterrupted = cliconv.ExitInterrupted
)

// Name is the command's name, the prefix of its messages.
const Name = "ciba-authenticator"

// Environment variables holding secrets when no file is given.
const (
	EnvPassword = "CIBA_AUTH_PASSWORD"
	EnvPIN      = "CIBA_AUTH_PIN"
)

// Automatic decisions (--auto) besides the two verdicts.
const autoIgnore = "ignore"

// options are the parsed flags of every subcommand; each subcommand
// defines only the flags it uses.
type options struct {
	cmd          string // "", "enroll", "list", "approve", "deny"
	arg          string // the ID of approve and deny
	natsURL      string // "" means the enrolled one, else device.DefaultNATSURL
	realm        string // "" means the enrolled one, else device.DefaultRealm
	user         string
	userGiven    bool // --user or $CIBA_AUTH_USER was set
	deviceDir    string
	deviceName   string
	passwordFile string
	pinFile      string
	auto         string
	delay        time.Duration
	rulesFile    string
	once         bool
	plain        bool
	json         bool
	hookListen   string
	logLevel     slog.Level
	logFormat    string
	logFile      string
}

// envName is the environment variable of flag name.
func envName(name string) string {
	return "CIBA_AUTH_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// errHelp reports that --help was asked for.
var errHelp = errors.New("help requested")

// commands are the subcommands; "" is the default: run the device.
var commands = map[string]string{
	"":        "run the device: show each request and decide (the default)",
	"enroll":  "enroll this device with the OP (once per device)",
	"list":    "list the user's pending requests and exit",
	"approve": "approve one pending request and exit",
	"deny":    "deny one pending request and exit",
}

// newFlagSet defines the flags of cmd on a fresh FlagSet.
func newFlagSet(cmd string, o *options, level *string) *flag.FlagSet {
	fs := flag.NewFlagSet(strings.TrimSpace(Name+" "+cmd), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.natsURL, "nats-url", "", "`URL` of the NATS server of the OP (default: the enrolled one, else "+device.DefaultNATSURL+")")
	fs.StringVar(&o.realm, "realm", "", "OP realm `name` (default: the enrolled one, else "+device.DefaultRealm+")")
	fs.StringVar(&o.user, "user", "user", "user `id` the device belongs to")
	fs.StringVar(&o.deviceDir, "device-dir", "", "device `directory` (default .cibalab-device/<user>)")
	if cmd != "enroll" {
		fs.StringVar(&o.passwordFile, "password-file", "", "`file` holding the user's password, to enroll on the fly when the device is not enrolled (else $"+EnvPassword+", else a prompt on a terminal)")
	} else {
		fs.StringVar(&o.passwordFile, "password-file", "", "`file` holding the user's password (else $"+EnvPassword+", else a prompt on a terminal)")
	}
	if cmd == "" || cmd == "enroll" {
		fs.StringVar(&o.deviceName, "device-name", device.DefaultDeviceName, "`name` the OP's operator sees for this device")
	}
	switch cmd {
	case "enroll":
		fs.StringVar(&o.pinFile, "pin-file", "", "`file` holding the new device PIN, asked before each interactive approval (else $"+EnvPIN+", else a prompt on a terminal; none when neither)")
	case "", "approve":
		fs.StringVar(&o.pinFile, "pin-file", "", "`file` holding the device PIN, checked before approving (else $"+EnvPIN+", else a prompt)")
	}
	if cmd == "" {
		fs.StringVar(&o.auto, "auto", "", "decide every request without asking: `approve|deny|ignore`")
		fs.DurationVar(&o.delay, "delay", 0, "wait this `duration` before an automatic decision, e.g. 2s")
		fs.StringVar(&o.rulesFile, "rules", "", "JSON rules `file` deciding by client_id, scope, binding message, acr or authorization details (see Rules below)")
		fs.BoolVar(&o.once, "once", false, "exit after the first decision the OP accepted")
		fs.BoolVar(&o.plain, "plain", false, "on a terminal, show cards one under the other and read single keys instead of the full-screen phone")
		fs.StringVar(&o.hookListen, "approval-hook-listen", "", "serve the approval hook POST /action/SECRET?token=AUTH_REQ_ID&type=allow|deny on this loopback `address`, e.g. 127.0.0.1:8099 (see Approval hook below)")
	}
	fs.BoolVar(&o.json, "json", false, "print JSON on stdout instead of text: one JSON document per run of enroll, list, approve and deny, failures included; JSON Lines events, one per line, when running the device")
	fs.StringVar(level, "log-level", "warn", "log `level`: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", logfmt.Text, "log `format`: "+logfmt.Usage)
	fs.StringVar(&o.logFile, "log-file", "", "append logs to this `file` (created 0600) instead of stderr; without it, logs go to stderr, except while the phone or cards are shown on a terminal and stderr is a terminal too (taken to be the same screen): there they are dropped, so that none lands on the screen")
	return fs
}

// parseFlags picks the subcommand, parses its flags, then fills each flag
// not given from its environment variable.
func parseFlags(args []string, getenv func(string) string) (options, *flag.FlagSet, error) {
	var o options
	if len(args) > 0 {
		if _, ok := commands[args[0]]; ok && args[0] != "" {
			o.cmd, args = args[0], args[1:]
		}
	}
	level := ""
	fs := newFlagSet(o.cmd, &o, &level)
	if (o.cmd == "approve" || o.cmd == "deny") && len(args) > 0 && isRequestID(fs, args[0]) {
		o.arg, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, fs, errHelp
		}
		return o, fs, err
	}
	if fs.NArg() > 0 {
		if (o.cmd == "approve" || o.cmd == "deny") && o.arg == "" && fs.NArg() == 1 {
			o.arg = fs.Arg(0)
		} else {
			return o, fs, fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if given[f.Name] || v == "" || envErr != nil {
			return
		}
		given[f.Name] = true
		if err := fs.Set(f.Name, v); err != nil {
			envErr = fmt.Errorf("invalid $%s: %v", envName(f.Name), err)
		}
	})
	if envErr != nil {
		return o, fs, envErr
	}
	o.userGiven = given["user"]
	if err := o.logLevel.UnmarshalText([]byte(level)); err != nil {
		return o, fs, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", level)
	}
	if logfmt.Check(o.logFormat) != nil {
		return o, fs, fmt.Errorf("--log-format must be text or json, not %q", o.logFormat)
	}
	switch o.auto {
	case "", channel.VerdictApprove, channel.VerdictDeny, autoIgnore:
	default:
		return o, fs, fmt.Errorf("--auto must be approve, deny or ignore, not %q", o.auto)
	}
	switch {
	case o.delay < 0:
		return o, fs, errors.New("--delay must not be negative")
	case o.user == "":
		return o, fs, errors.New("--user must not be empty")
	case (o.cmd == "approve" || o.cmd == "deny") && o.arg == "":
		return o, fs, fmt.Errorf("%s needs the request: its auth_req_id or short reference (see %s list)", o.cmd, Name)
	}
	if o.realm != "" {
		if err := channel.ValidRealm(o.realm); err != nil {
			return o, fs, fmt.Errorf("--realm: %v", err)
		}
	}
	if o.hookListen != "" {
		if err := loopbackAddr(o.hookListen); err != nil {
			return o, fs, fmt.Errorf("--approval-hook-listen: %v", err)
		}
	}
	return o, fs, nil
}

// isRequestID reports whether arg, the first argument of approve or deny,
// names the request rather than a flag: an auth_req_id is base64url and
// may well start with "-"; it is the request unless it starts with "--" or
// names one of the command's flags.
func isRequestID(fs *flag.FlagSet, arg string) bool {
	if !strings.HasPrefix(arg, "-") {
		return true
	}
	if arg == "-" || strings.HasPrefix(arg, "--") {
		return false // flags are written --name; an ID like that goes after "--"
	}
	name, _, _ := strings.Cut(arg[1:], "=")
	return fs.Lookup(name) == nil && name != "h" && name != "help"
}

// loopbackAddr accepts host:port with a loopback host: the hook decides
// for the user, so it never listens beyond this machine.
func loopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", host)
	}
	return nil
}

// usage writes the --help text of o.cmd, in the layout the three programs
// share.
func usage(w io.Writer, cmd string, fs *flag.FlagSet) {
	p := cliconv.Page{Program: cliconv.Authenticator, Flags: cliconv.FlagsOf(fs, envName)}
	switch cmd {
	case "":
		p.Usage = []string{"[flags]", "enroll|list|approve ID|deny ID [flags]", "--version"}
		p.Description = `Simulates a user's authentication device for OpenID Connect CIBA (CIBA
Core 1.0 §8): an enrolled device that shows each authentication request
of its user as a card (client, scope, binding message, requested acr,
seconds left) and sends the user's approval or denial, signed with the
device key.

The first run enrolls the device on the fly when it is not enrolled yet and
the password is available (--password-file, $` + EnvPassword + `, or a prompt).

Interactive: on a terminal, a full-screen phone shows the inbox of
pending requests (arrows and Enter to open one, h for the history, q to
quit) and each request with Approve and Deny buttons (a or y to approve,
d or n to deny, or click); a device with a PIN starts locked. With
--plain, cards are shown one under the other instead: press y (or a) to
approve, n (or d) to deny, s to skip. Elsewhere, answer a line:
y/yes/a/approve or n/no/d/deny. Approving asks for the device PIN when the
device has one. Scripted: --auto approve|deny|ignore, --delay, --rules FILE.
Decisions carry amr ["pin","swk"] and acr urn:cibalab:acr:pin after a PIN,
else amr ["swk"].`
		p.Sections = append(p.Sections, cliconv.Section{Title: "COMMANDS", Body: fmt.Sprintf(
			"(none)   %s\nenroll   %s\nlist     %s\napprove  %s\ndeny     %s\n\nRun '%s COMMAND --help' for the flags of a command.",
			commands[""], commands["enroll"], commands["list"], commands["approve"], commands["deny"], Name)})
	case "enroll":
		p.Usage = []string{"enroll --user USER [flags]"}
		p.Description = `Enrolls this device with the OP: proves the user with their password,
creates the device's ES256 decision key and NATS nkey in the device
directory (mode 0700, files 0600) and registers their public halves. The
directory must be missing, or empty and accessible by its owner only; an
existing directory's mode is never changed. A
user may enroll several devices. The OP's operator lists and revokes them
with 'ciba-op device list|revoke'. The PIN, if any, is stored hashed.`
	case "list":
		p.Usage = []string{"list [flags]"}
		p.Description = "Lists the user's pending requests, oldest first, with their short references."
	default:
		p.Usage = []string{cmd + " ID [flags]"}
		p.Description = "Decides one pending request: ID is its auth_req_id or its short reference\n(see " + Name + " list)."
	}
	p.Sections = append(p.Sections, cliconv.Section{Title: "ENVIRONMENT", Body: fmt.Sprintf(
		"%s  the user's password, used when no password file is given\n%s       the device PIN, used when no PIN file is given", EnvPassword, EnvPIN)})
	if cmd == "" {
		p.Sections = append(p.Sections,
			cliconv.Section{Title: "RULES", Body: `--rules FILE: the first rule whose fields all match decides; no match
leaves the request to --auto, else to the person at the terminal.
  {"rules": [
    {"client_id": "shop", "scope": "payments", "action": "approve", "delay": "2s"},
    {"binding_message": "^Order [0-9]+$", "acr": "urn:cibalab:acr:pin", "action": "deny"},
    {"details": {"type": "payment_initiation", "currency": "EUR", "max_amount": "500.00"}, "action": "approve"},
    {"action": "ignore"}
  ]}
client_id equal; scope among the requested scopes; binding_message an RE2
regular expression; acr among the requested acr_values; details matches
when every authorization_details entry (RFC 9396) has the type, and, for
payments, the currency and an amount of at most max_amount; action
approve, deny, ignore (let it expire) or ask; delay waits before acting.`},
			cliconv.Section{Title: "AUTHORIZATION DETAILS", Body: `A card shows each entry of a request's authorization_details (RFC 9396)
in words, numbered. Answer y to approve them all, n to deny, or the
numbers of the entries to approve only those (1,3); on a terminal with
--plain type the numbers, then Enter. On the phone, each entry's number
leaves it out of the approval (☐) or takes it back (☑); leaving all out
denies.`},
			cliconv.Section{Title: "APPROVAL HOOK", Body: fmt.Sprintf(`--approval-hook-listen, loopback only: POST
/action/SECRET?token=AUTH_REQ_ID&type=allow|deny decides through this
device (the automated_ciba_approval_url convention of the OpenID
conformance suite). SECRET is random, new at every start, and printed
once on stderr with the full URL:
  %s: approval hook: POST http://ADDR/action/SECRET?token=...
A device with a PIN needs it (--pin-file or $%s): the hook refuses to
start without it, and approves with amr ["pin","swk"] and acr
urn:cibalab:acr:pin; else approvals carry amr ["swk"]. Answers are JSON:
200 {"accepted":true,...}; 409 with the OP's error code when it refused;
400 for a bad query; 403 when the PIN no longer matches; 404 for a wrong
SECRET; 405 for a method other than POST; 502 when the OP is unreachable.

Once connected and listening, one line goes to stderr:
  %s: signed in as USER on URL (realm REALM, device ID)`, Name, EnvPIN, Name)})
	}
	p.Write(w)
}
