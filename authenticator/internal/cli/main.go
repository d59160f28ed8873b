package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cibalab/cibalab/shared/cliconv"
	"github.com/cibalab/cibalab/shared/logfmt"
)

// Main runs ciba-authenticator with args (without the program name) and
// returns its exit code. getenv reads the environment; nil reads none.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return runAs(ctx, "", args, stdin, stdout, stderr, getenv, nil)
}

// MainAs is Main for the program invoked as program (os.Args[0]): the
// commands it prints for the user to copy run it the same way.
func MainAs(ctx context.Context, program string, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return runAs(ctx, program, args, stdin, stdout, stderr, getenv, nil)
}

// run is Main with the terminal decision injectable: tty nil means
// "stdin and stdout are both terminals".
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string, tty *bool) int {
	return runAs(ctx, "", args, stdin, stdout, stderr, getenv, tty)
}

func runAs(ctx context.Context, program string, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string, tty *bool) int {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if len(args) == 1 && cliconv.IsVersion(args[0]) {
		fmt.Fprintln(stdout, cliconv.Version(cliconv.Authenticator))
		return ExitOK
	}
	o, fs, err := parseFlags(args, getenv)
	switch {
	case errors.Is(err, errHelp):
		usage(stdout, o.cmd, fs)
		return ExitOK
	case err != nil:
		msg := cliconv.Message(err)
		fmt.Fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", Name, msg, Name)
		if cliconv.WantsJSON(args, getenv(envName("json"))) {
			(&printer{w: stdout, stderr: stderr, json: true}).event("error", map[string]any{"error": msg, "exit_code": ExitUsage})
		}
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
		msg := "--log-file: " + cliconv.Message(err)
		fmt.Fprintf(stderr, "%s: %s\n", Name, msg)
		if o.json {
			(&printer{w: stdout, stderr: stderr, json: true}).event("error", map[string]any{"error": msg, "exit_code": ExitUsage})
		}
		return ExitUsage
	}
	defer closeLog()
	handler, err := logfmt.NewHandler(logOut, o.logFormat, o.logLevel)
	if err != nil { // parseFlags checked the format
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return ExitUsage
	}
	e := env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now, raw: raw, program: program,
		log: slog.New(handler)}
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
		msg := cliconv.Plain(f.msg)
		fmt.Fprintf(stderr, "%s: %s\n", Name, msg)
		if o.json {
			(&printer{w: stdout, stderr: stderr, json: true}).event("error", map[string]any{"error": msg, "exit_code": f.code})
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
