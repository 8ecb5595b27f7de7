package store_test

import (
	"testing"

	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/store/storetest"
)

// TestConsoleConformance runs the console's part of the conformance suite on every dialect.
func TestConsoleConformance(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			d.fresh(t) // skip early if the dialect is not available
			storetest.RunConsole(t, func(t *testing.T) *store.DB { return open(t, d.fresh(t)) })
		})
	}
}
