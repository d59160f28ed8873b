package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cibalab/cibalab/shared/logfmt"
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
	handler, err := logfmt.NewHandler(logOut, o.logFormat, o.logLevel)
	if err != nil { // parseFlags checked the format
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return ExitUsage
	}
	e := env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now, raw: raw, log: slog.New(handler)}
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
