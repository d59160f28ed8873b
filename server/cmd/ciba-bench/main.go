// Command ciba-bench measures ciba-op against oidc-provider on loopback
// with one load generator and prints one table (docs/performance.md).
// Run it through scripts/bench.sh; see "ciba-bench --help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cibalab/cibalab/server/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
