package cli_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// TestMain gives the tests a per-user runtime directory of their own: `lanyard dev` records
// itself there (for the CLI in other directories to find it), and a test must neither replace nor
// find the record of a `lanyard dev` the developer runs.
func TestMain(m *testing.M) {
	sandbox.Init() // `app run` in a sandbox re-executes this binary to enter it
	dir, err := os.MkdirTemp("", "lyrun")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_RUNTIME_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
