package store_test

import (
	"testing"

	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/store/storetest"
)

// TestFunctionAppsConformance runs migration 0013's part of the conformance suite on every
// dialect.
func TestFunctionAppsConformance(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			d.fresh(t) // skip early if the dialect is not available
			storetest.RunFunctionApps(t, func(t *testing.T) *store.DB { return open(t, d.fresh(t)) })
		})
	}
}
