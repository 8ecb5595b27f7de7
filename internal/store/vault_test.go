package store_test

import (
	"testing"

	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/store/storetest"
)

// TestVaultConformance runs the vault domain's part of the conformance suite on every dialect.
func TestVaultConformance(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			d.fresh(t) // skip early if the dialect is not available
			storetest.RunVault(t, func(t *testing.T) *store.DB { return open(t, d.fresh(t)) })
		})
	}
}
