// Command ciba-op is a mock OpenID Provider for CIBA with mutual TLS, and
// the tool that manages its state directory. See "ciba-op --help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cibalab/cibalab/server/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{Program: os.Args[0], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
