//go:build !linux

package agent

import (
	"context"
	"log/slog"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// addLinkLocal is Linux only; elsewhere the address must already be on an interface.
func addLinkLocal(_ context.Context, _ *slog.Logger, hostport string) (func(), error) {
	if _, need := needsLink(hostport); need {
		return nil, errs.E(errs.Invalid, "imds.listen %s: putting a link-local address on an interface is supported on Linux only; add it yourself", hostport)
	}
	return func() {}, nil
}
