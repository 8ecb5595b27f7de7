package console_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The console in Firefox: Debian's firefox-esr driven over WebDriver BiDi by npm puppeteer-core
// (testdata/browser/firefox.mjs, pinned by the same package-lock.json as the Chromium tests).
// Playwright cannot drive Debian's Firefox (it needs a patched build of its own). The flows are
// the Chromium tests' (seed 003, every list page with axe-core and the header and escaping rules,
// the menu with the keyboard alone, the log stream across reconnects); screenshots go to the same
// directory, prefixed firefox-.

// requireFirefox returns node, or fails (LANYARD_REQUIRE_BROWSER=1 or CI set: .ci/run installs
// firefox-esr and the packages) or skips, saying what is missing.
func requireFirefox(t *testing.T) string {
	t.Helper()
	why := ""
	node, err := exec.LookPath("node")
	switch {
	case err != nil:
		why = "node is not installed"
	case !exists(firefox()):
		why = "firefox-esr is not installed (" + firefox() + "): apt-get install -y firefox-esr"
	case !exists(filepath.Join(browserDir, "node_modules", "puppeteer-core", "package.json")) || !exists(filepath.Join(browserDir, "node_modules", "axe-core", "axe.min.js")):
		why = "the browser test's packages are not installed: run npm ci --prefix internal/console/" + browserDir
	}
	if why != "" {
		if os.Getenv("LANYARD_REQUIRE_BROWSER") == "1" || os.Getenv("CI") != "" {
			t.Fatal(why + " (LANYARD_REQUIRE_BROWSER=1 or CI is set, so this fails instead of skipping)")
		}
		t.Skip(why)
	}
	return node
}

func firefox() string {
	if p := os.Getenv("LANYARD_FIREFOX"); p != "" {
		return p
	}
	return "/usr/bin/firefox-esr"
}

func TestFirefoxSeed003(t *testing.T) {
	seed003(t, requireFirefox(t), "firefox.mjs")
}

func TestFirefoxPages(t *testing.T) {
	node := requireFirefox(t)
	f := start(t)
	f.runScript(node, "firefox.mjs", "pages", map[string]any{"pages": f.listPages(), "evil": hostile}, nil)
}

// TestFirefoxKeyboard follows every entry of the menu with Tab and Enter only, with axe on each
// page it reaches.
func TestFirefoxKeyboard(t *testing.T) {
	node := requireFirefox(t)
	f := start(t)
	var out struct{ Seen []string }
	menu := []string{"Resource groups", "Function App", "App Services", "Managed Identities", "Key vaults",
		"App registrations", "Enterprise applications", "Access control (IAM)", "Nodes", "Audit log", "Dashboard"}
	f.runScript(node, "firefox.mjs", "keyboard", map[string]any{"menu": menu}, &out)
	if len(out.Seen) != len(menu) {
		t.Errorf("reached %d pages of %d: %v", len(out.Seen), len(menu), out.Seen)
	}
}

func TestFirefoxLogStream(t *testing.T) {
	logStream(t, requireFirefox(t), "firefox.mjs")
}
