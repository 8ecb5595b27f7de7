package console_test

import (
	"context"

	"github.com/lanyardhq/lanyard/internal/authn"
)

func adminContext(ctx context.Context) context.Context {
	return authn.WithPrincipal(ctx, authn.Principal{Admin: true, Actor: "scale-test"})
}
