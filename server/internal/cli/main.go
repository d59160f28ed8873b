package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/cibalab/cibalab/server/registry"
	"github.com/cibalab/cibalab/shared/cliconv"
)

// Environment variables read by the admin commands.
const (
	envStateDir           = "CIBA_OP_STATE_DIR"
	envNATSURL            = "CIBA_OP_NATS_URL"
	envRegistry           = "CIBA_OP_REGISTRY"
	envRegistryKeyFile    = "CIBA_OP_REGISTRY_KEY_FILE"
	envReplicas           = "CIBA_OP_REPLICAS"
	envCalloutSeedFile    = "CIBA_OP_NATS_AUTH_CALLOUT_SEED_FILE"
	envCertPassword       = "CIBA_OP_CERT_PASSWORD"
	envUserPassword       = "CIBA_OP_USER_PASSWORD"
	envPasswordIterations = "CIBA_OP_PASSWORD_ITERATIONS"
	defaultStateDir       = ".cibalab"
)

// mainPage is the help page of ciba-op itself.
func mainPage() cliconv.Page {
	return cliconv.Page{
		Program: cliconv.OP,
		Usage:   []string{"<command> [flags]", "--version"},
		Description: `ciba-op is a mock OpenID Provider for Client-Initiated Backchannel
Authentication (OpenID Connect CIBA Core 1.0) with mutual TLS (RFC 8705).`,
		Sections: []cliconv.Section{
			{Title: "COMMANDS", Body: `serve          run the OpenID Provider (HTTPS and NATS)
watch          show the flows of a running serve live, as sequence diagrams
init           create the state directory: CA, server certificate, signing keys,
               default client with its certificate, default user
ca create      create a certificate authority trusted for client certificates
ca list        list the certificate authorities
ca remove      stop trusting a certificate authority for client certificates
client add     register a client (tls_client_auth, self-signed mTLS, private_key_jwt or a secret)
client update  change a registered client
client remove  remove a client
client list    list the registered clients
cert issue     issue a client certificate as a PKCS#12 file
user add       add a user
user update    change a user's password
user remove    remove a user and revoke their devices
user list      list the users
device list    list the enrolled authentication devices
device revoke  revoke an authentication device (takes effect in a running serve)
cluster keys   create the secrets the OPs of a NATS cluster share, and print the
               nats-server configuration that names them

Run 'ciba-op <command> --help' for the flags of a command.`},
			{Title: "ENVIRONMENT", Body: `CIBA_OP_STATE_DIR            the state directory of every command (default .cibalab)
CIBA_OP_PASSWORD_ITERATIONS  PBKDF2 iterations of new password hashes (default 210000);
                             a knob for tests, never lower it for real users`},
		},
	}
}

// Main runs ciba-op with args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, e Env) int {
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	if len(args) == 0 {
		mainPage().Write(e.Stderr)
		return exitUsage
	}
	if cliconv.IsVersion(args[0]) {
		fmt.Fprintln(e.Stdout, cliconv.Version(cliconv.OP))
		return exitOK
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		mainPage().Write(e.Stdout)
		return exitOK
	case "serve":
		return runServe(ctx, e, args[1:])
	case "watch":
		return runWatch(ctx, e, args[1:])
	case "init":
		return runInit(ctx, e, args[1:])
	case "ca":
		return group(ctx, e, "ca", args[1:], map[string]runner{"create": runCACreate, "list": runCAList, "remove": runCARemove})
	case "client":
		return group(ctx, e, "client", args[1:], map[string]runner{"add": runClientAdd, "update": runClientUpdate, "remove": runClientRemove, "list": runClientList})
	case "cert":
		return group(ctx, e, "cert", args[1:], map[string]runner{"issue": runCertIssue})
	case "user":
		return group(ctx, e, "user", args[1:], map[string]runner{"add": runUserAdd, "update": runUserUpdate, "remove": runUserRemove, "list": runUserList})
	case "device":
		return group(ctx, e, "device", args[1:], map[string]runner{"list": runDeviceList, "revoke": runDeviceRevoke})
	case "cluster":
		return group(ctx, e, "cluster", args[1:], map[string]runner{"keys": runClusterKeys})
	}
	fmt.Fprintf(e.Stderr, "ciba-op: unknown command %q\nRun 'ciba-op --help' for usage.\n", args[0])
	return jsonFailure(e, cliconv.WantsJSON(args, ""), exitUsage, fmt.Errorf("unknown command %q", args[0]))
}

type runner func(ctx context.Context, e Env, args []string) int

// group dispatches "ciba-op <name> <sub> ...".
func group(ctx context.Context, e Env, name string, args []string, subs map[string]runner) int {
	var names []string
	for _, n := range []string{"create", "add", "update", "remove", "issue", "list", "revoke"} {
		if _, ok := subs[n]; ok {
			names = append(names, n)
		}
	}
	page := cliconv.Page{Program: cliconv.OP, Usage: []string{fmt.Sprintf("%s <%s> [flags]", name, strings.Join(names, "|"))},
		Description: fmt.Sprintf("Run 'ciba-op %s <%s> --help' for the flags.", name, strings.Join(names, "|"))}
	if len(args) == 0 {
		fmt.Fprintf(e.Stderr, "ciba-op %s: missing subcommand\n\n", name)
		page.Write(e.Stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		page.Write(e.Stdout)
		return exitOK
	}
	run, ok := subs[args[0]]
	if !ok {
		fmt.Fprintf(e.Stderr, "ciba-op %s: unknown subcommand %q\nRun 'ciba-op %s --help' for usage.\n", name, args[0], name)
		return jsonFailure(e, cliconv.WantsJSON(args, ""), exitUsage, fmt.Errorf("unknown subcommand %q", args[0]))
	}
	return run(ctx, e, args[1:])
}

// openState opens the state directory for cmd, or the JetStream registry
// with --nats-url; the caller closes it. It returns false with the
// exit code when it cannot.
func openState(e Env, cmd *command, dir string) (*registry.Dir, int, bool) {
	iterations := 0
	if v := e.getenv(envPasswordIterations); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, cmd.usageError(e, fmt.Sprintf("%s=%q: want a positive integer", envPasswordIterations, v)), false
		}
		iterations = n
	}
	cfg := registry.Config{Now: e.Now, Logger: cmd.logger(e, slog.LevelWarn), PasswordIterations: iterations}
	if cmd.reg.natsURL != "" {
		return openJetStreamRegistry(e, cmd, dir, cfg)
	}
	d, err := registry.Open(dir, cfg)
	if err != nil {
		return nil, cmd.fail(e, exitError, err), false
	}
	return d, exitOK, true
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@=+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
