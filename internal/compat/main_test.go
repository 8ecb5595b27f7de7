package compat

import (
	"os"
	"testing"

	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// TestMain lets the sandbox tests run apps in a sandbox: sandbox.Command re-executes this test
// binary, which enters the sandbox here and executes the app.
func TestMain(m *testing.M) {
	sandbox.Init()
	os.Exit(m.Run())
}
