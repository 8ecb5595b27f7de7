package console_test

import (
	"os"
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
	return requireNodeAnd(t, firefox(), "firefox-esr is not installed ("+firefox()+"): apt-get install -y firefox-esr", "puppeteer-core")
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
