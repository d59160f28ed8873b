package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/cibalab/cibalab/shared/cliconv"
	"github.com/cibalab/cibalab/shared/logfmt"
)

// Exit codes of ciba-op: those of the shared table (docs/cli.md).
const (
	exitOK          = cliconv.ExitOK
	exitError       = cliconv.ExitError
	exitUsage       = cliconv.ExitUsage
	exitInterrupted = cliconv.ExitInterrupted
)

// command is one subcommand: its FlagSet, the environment variable behind
// each flag, and its help text.
type command struct {
	name    string // "cert issue"
	usage   string // the line after "ciba-op "
	summary string
	extra   string // more help sections, each ending in a newline
	fs      *flag.FlagSet
	env     map[string]string // flag name -> environment variable
	// reg says where an admin command finds the registry besides
	// --state-dir (stateDirVar).
	reg registryFlags
	// logFormat is --log-format, which every command takes.
	logFormat string
}

func newCommand(name, usage, summary string) *command {
	fs := flag.NewFlagSet("ciba-op "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := &command{name: name, usage: usage, summary: summary, fs: fs, env: map[string]string{}}
	c.stringVar(&c.logFormat, "log-format", "CIBA_OP_LOG_FORMAT", logfmt.Text, "`FORMAT` of the logs on stderr: "+logfmt.Usage)
	return c
}

// logger returns the injected logger, or one of --log-format writing
// from level on to stderr.
func (c *command) logger(e Env, level slog.Level) *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	h, err := logfmt.NewHandler(e.Stderr, c.logFormat, level)
	if err != nil { // parse checked the format
		h = slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level})
	}
	return slog.New(h)
}

// stringVar defines a string flag; env, when not empty, is the variable
// consulted when the flag is not given.
func (c *command) stringVar(p *string, name, env, def, usage string) {
	c.fs.StringVar(p, name, def, usage)
	if env != "" {
		c.env[name] = env
	}
}

func (c *command) boolVar(p *bool, name string, usage string) {
	c.fs.BoolVar(p, name, false, usage)
}

func (c *command) durationVar(p *time.Duration, name, env string, def time.Duration, usage string) {
	c.fs.DurationVar(p, name, def, usage)
	if env != "" {
		c.env[name] = env
	}
}

// stateDirVar defines --state-dir, which every admin command takes.
func (c *command) stateDirVar(p *string) {
	c.stringVar(p, "state-dir", envStateDir, defaultStateDir, "`DIR` holding the OP's state")
}

// registryVars defines --nats-url and --registry-key-file, which point an
// admin command at a registry in NATS JetStream instead of --state-dir
// (openState).
func (c *command) registryVars() {
	c.stringVar(&c.reg.natsURL, "nats-url", envNATSURL, "", "work on the registry in the NATS JetStream at `URL[,URL...]` (that of ciba-op serve --registry jetstream) instead of the one in --state-dir, which then keeps only files this command writes")
	c.stringVar(&c.reg.keyFile, "registry-key-file", envRegistryKeyFile, "", "`FILE` with the key that encrypts the private keys in the JetStream registry (needed to issue certificates or create CAs)")
}

// parse parses args, then fills flags not given from the environment
// (flag > environment > default). It returns false with the exit code
// when the command must stop: 0 after --help, 2 on a usage error.
func (c *command) parse(e Env, args []string) (int, bool) {
	err := c.fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		c.printUsage(e.Stdout)
		return exitOK, false
	}
	if err != nil {
		return c.usageError(e, err.Error()), false
	}
	if c.fs.NArg() > 0 {
		return c.usageError(e, fmt.Sprintf("unexpected argument %q", c.fs.Arg(0))), false
	}
	given := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	names := make([]string, 0, len(c.env))
	for name := range c.env {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if given[name] {
			continue
		}
		if v := e.getenv(c.env[name]); v != "" {
			if err := c.fs.Set(name, v); err != nil {
				return c.usageError(e, fmt.Sprintf("%s: %v", c.env[name], err)), false
			}
		}
	}
	if err := logfmt.Check(c.logFormat); err != nil {
		return c.usageError(e, "--log-format: "+err.Error()), false
	}
	return exitOK, true
}

// usageError reports a usage error on stderr and returns exit code 2.
func (c *command) usageError(e Env, msg string) int {
	fmt.Fprintf(e.Stderr, "ciba-op %s: %s\nRun 'ciba-op %s --help' for usage.\n", c.name, cliconv.Plain(msg), c.name)
	return exitUsage
}

// fail reports err on stderr and returns code.
func (c *command) fail(e Env, code int, err error) int {
	fmt.Fprintf(e.Stderr, "ciba-op %s: %s\n", c.name, cliconv.Message(err))
	return code
}

func (c *command) printUsage(w io.Writer) {
	p := cliconv.Page{Program: cliconv.OP, Usage: []string{c.usage}, Description: c.summary,
		Flags: cliconv.FlagsOf(c.fs, func(name string) string { return c.env[name] })}
	if c.extra != "" {
		title, body, _ := strings.Cut(strings.TrimRight(c.extra, "\n"), "\n")
		p.Sections = append(p.Sections, cliconv.Section{Title: title, Body: dedent(body)})
	}
	p.Write(w)
}

// dedent removes the two spaces that start each line of a help section.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "  ")
	}
	return strings.Join(lines, "\n")
}
