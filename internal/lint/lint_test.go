package lint

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// moduleRoot is two levels up from this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestEveryPackageHasDocComment fails for any package directory none of whose non-test files
// carries a package doc comment.
func TestEveryPackageHasDocComment(t *testing.T) {
	root := moduleRoot(t)
	seen := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, path, func(fi os.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			return err
		}
		for _, p := range pkgs {
			seen++
			documented := false
			for _, f := range p.Files {
				if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
					documented = true
				}
			}
			if !documented {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("package %s (%s) has no doc comment", p.Name, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 10 {
		t.Fatalf("found only %d packages: is the walk looking at the module?", seen)
	}
}

// layer rules: a package under internal/<from> must not import internal/<to>.
var forbidden = map[string][]string{
	// domains never import the store, the server assembly or the CLI
	"tenant":    {"store", "server", "cli"},
	"token":     {"store", "server", "cli"},
	"audit":     {"store", "server", "cli"},
	"seal":      {"store", "server", "cli"},
	"pki":       {"store", "server", "cli"},
	"admin":     {"store", "server", "cli"},
	"directory": {"store", "server", "cli", "resources", "rbac", "vault", "agent", "nodes"},
	"rbac":      {"store", "server", "cli", "resources", "vault", "agent", "nodes"},
	"resources": {"store", "server", "cli", "vault", "agent"},
	"arm":       {"store", "server", "cli", "directory", "rbac", "resources", "token", "tenant"},
	"agent":     {"store", "server", "cli", "directory", "rbac", "resources", "tenant"},
	"functions": {"store", "server", "cli", "directory", "rbac", "resources", "tenant", "token", "nodes", "agent", "vault"},
	"frontdoor": {"store", "server", "cli", "directory", "rbac", "resources", "tenant", "token", "nodes", "agent", "vault"},
	// the server's side of sites' settings, keys and packages reads secrets through a one-method
	// interface, not the vault package
	"appservice": {"store", "server", "cli", "vault", "nodes", "frontdoor", "functions"},
	// the console is a client of the public APIs: no domain, no store, no back door
	"console": {"store", "server", "cli", "directory", "rbac", "resources", "vault", "nodes", "tenant", "token", "admin", "agent"},
	// the shared plumbing never imports a domain
	"errs":  {"store", "server", "cli", "tenant", "token", "audit", "httpx", "authn"},
	"httpx": {"store", "server", "cli", "tenant", "token", "audit", "authn"},
	"authn": {"store", "server", "cli"},
	// nothing but cmd imports the CLI; nothing but cli, cmd and tests import server
	"store":  {"server", "cli"},
	"config": {"store", "server", "cli"},
}

// TestDependencyDirections checks the import graph against the rules above and keeps the public
// client package on the standard library.
func TestDependencyDirections(t *testing.T) {
	root := moduleRoot(t)
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/lanyardhq/lanyard/"
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], mod)
		for _, imp := range fields[1:] {
			if pkg == "client" && strings.Contains(imp, ".") {
				t.Errorf("client imports %s: the public client uses the standard library only", imp)
			}
			if !strings.HasPrefix(imp, mod+"internal/") {
				continue
			}
			to := strings.SplitN(strings.TrimPrefix(imp, mod+"internal/"), "/", 2)[0]
			from := strings.TrimPrefix(pkg, "internal/")
			from = strings.SplitN(from, "/", 2)[0]
			for _, bad := range forbidden[from] {
				checked++
				if to == bad {
					t.Errorf("%s imports %s: internal/%s must not depend on internal/%s", pkg, imp, from, bad)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no import was checked: is go list answering?")
	}
}
