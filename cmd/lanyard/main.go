// Command lanyard is Lanyard's one binary: the control plane (server), the node agent, the
// all-in-one development mode (dev) and the CLI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lanyardhq/lanyard/internal/cli"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

func main() {
	sandbox.Init() // a re-execution of lanyard that enters an app's sandbox: never returns
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
