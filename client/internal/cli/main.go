package cli

import (
	"context"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/cibalab/cibalab/shared/cliconv"
	"github.com/cibalab/cibalab/shared/progenv"
)

// Exit codes of ciba-client; they are part of its interface, and those of
// the table the three programs share (docs/cli.md).
const (
	ExitOK          = cliconv.ExitOK          // an access token was printed
	ExitError       = cliconv.ExitError       // anything unexpected
	ExitUsage       = cliconv.ExitUsage       // bad flags, environment or files named by them
	ExitDenied      = cliconv.ExitDenied      // access_denied
	ExitExpired     = cliconv.ExitExpired     // expired_token, local expiry or --timeout
	ExitClient      = cliconv.ExitRefused     // the OP refused the client: invalid_client, unauthorized_client, its TLS alert, unusable credentials
	ExitRejected    = cliconv.ExitRejected    // any other error answer of the OP
	ExitUntrusted   = cliconv.ExitUntrusted   // the OP's TLS certificate did not verify
	ExitInterrupted = cliconv.ExitInterrupted // the context was cancelled (SIGINT)
)

// Env is what the command takes from its process. Main builds the real one;
// tests build their own through Run.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads an environment variable; nil reads none
	// (progenv.Getenv).
	Getenv func(string) string
	// Now is the clock; nil means time.Now (progenv.Now).
	Now func() time.Time
	// Sleep waits between polls; nil means a real timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// IsTerminal reports whether w is a terminal, which turns on the live
	// countdown; nil checks *os.File values with golang.org/x/term.
	IsTerminal func(w io.Writer) bool
}

// Main runs ciba-client with args (without the program name) and returns
// its exit code. Cancelling ctx (SIGINT) ends the run with ExitInterrupted.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return Run(ctx, Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv}, args)
}

func (e Env) getenv(name string) string { return progenv.Getenv(e.Getenv, name) }

func (e Env) now() time.Time { return progenv.Now(e.Now) }

func (e Env) isTerminal(w io.Writer) bool {
	if e.IsTerminal != nil {
		return e.IsTerminal(w)
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
