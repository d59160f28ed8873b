package cli

import (
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/cibalab/cibalab/shared/progenv"
)

// Env is everything a command takes from the process: standard streams, the
// environment and the clock. main builds the real one; tests build their own.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads an environment variable; nil reads none.
	Getenv func(string) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger, when set, replaces the logger built from --log-level.
	Logger *slog.Logger
	// Program is how the program was invoked (os.Args[0]); the commands
	// it prints as next steps name the other programs next to it. Empty
	// means bin/ciba-op, as the README builds it.
	Program string
	// Ready, when set, is called by serve with the chosen addresses once
	// every listener accepts connections (tests use it instead of parsing
	// the ready line).
	Ready func(ReadyInfo)
}

// ReadyInfo is what serve reports when it is ready.
type ReadyInfo struct {
	Issuer   string // e.g. https://localhost:5001/master
	HTTPAddr string // host:port of the HTTPS listener
	NATSURL  string // e.g. nats://127.0.0.1:4222
	StateDir string
	// ControlURL is the control API's base URL (serve --control-addr),
	// "" without it.
	ControlURL string
	// MetricsAddr is host:port of the metrics listener, "" without one.
	MetricsAddr string
}

func (e Env) getenv(name string) string { return progenv.Getenv(e.Getenv, name) }

// bin returns how to invoke the program name (ciba-op, ciba-client,
// ciba-authenticator) in a command printed for the user to copy: next to
// this program when it was run by a path, by name when it was found on
// PATH, else in bin/ as the README builds them.
func (e Env) bin(name string) string {
	switch {
	case e.Program == "":
		return "bin/" + name
	case !strings.Contains(e.Program, "/"):
		return name
	}
	p := filepath.Join(filepath.Dir(e.Program), name)
	if !strings.Contains(p, "/") {
		p = "./" + p // ciba-op run as ./ciba-op
	}
	return shellQuote(p)
}

// newSecretFileCommand starts a shell command, completed by a file name and
// ")", that writes a random password into a new file only its owner can
// read.
const newSecretFileCommand = "(umask 077; head -c 18 /dev/urandom | base64 >"
