package nodeworker

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
)

func TestScriptWritesTheEmbeddedFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "worker")
	p, err := Script(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, "worker.js") {
		t.Errorf("path %s", p)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v", e.Name(), info.Mode().Perm())
		}
		want, _ := files.ReadFile("js/" + e.Name())
		got, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the embedded file", e.Name())
		}
	}
	sort.Strings(names)
	if want := []string{"util.js", "v3.js", "v4.js", "worker.js"}; !equal(names, want) {
		t.Errorf("files %v, want %v (no temporary file left)", names, want)
	}

	// A stale file is replaced; a second call changes nothing.
	if err := os.WriteFile(filepath.Join(dir, "v3.js"), []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Script(dir); err != nil {
		t.Fatal(err)
	}
	want, _ := files.ReadFile("js/v3.js")
	if got, _ := os.ReadFile(filepath.Join(dir, "v3.js")); !bytes.Equal(got, want) {
		t.Error("a stale v3.js was kept")
	}
	if info, _ := os.Stat(filepath.Join(dir, "v3.js")); info.Mode().Perm() != 0o644 {
		t.Errorf("mode after replace %v", info.Mode().Perm())
	}
}

func TestVersionMatchesTheScript(t *testing.T) {
	src, err := files.ReadFile("js/worker.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`const VERSION = '([^']+)'`).FindSubmatch(src)
	if m == nil || string(m[1]) != Version {
		t.Errorf("worker.js VERSION %q, nodeworker.Version %q", m, Version)
	}
}

// package.json main may be a glob (functions.md §4.3); the worker expands *, ?, ** and {a,b}
// itself and never walks into node_modules.
func TestMainGlob(t *testing.T) {
	node := nodeBinary(t)
	root := t.TempDir()
	for _, f := range []string{
		"dist/a.js", "dist/b.js", "dist/b.mjs", "dist/sub/c.js", "dist/sub/deep/d.js", "dist/node_modules/x.js",
		"src/e.ts", "lib/f.js", "lib/g.cjs",
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script, err := Script(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	util := filepath.Join(filepath.Dir(script), "util.js")
	for pattern, want := range map[string][]string{
		"dist/*.js":          {"dist/a.js", "dist/b.js"},
		"./dist/?.mjs":       {"dist/b.mjs"},
		"dist/**/*.js":       {"dist/a.js", "dist/b.js", "dist/sub/c.js", "dist/sub/deep/d.js"},
		"lib/*.{js,cjs}":     {"lib/f.js", "lib/g.cjs"},
		"lib/f.js":           {"lib/f.js"},
		"nothing/*.js":       nil,
		"{dist,lib}/[ab].js": nil, // brackets are not special: no file is named that
	} {
		out, err := exec.Command(node, "-e", `const u = require(process.argv[1]); const path = require('path');
console.log(JSON.stringify(u.glob(process.argv[2], process.argv[3]).map((f) => path.relative(process.argv[2], f))));`,
			util, root, pattern).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", pattern, err, out)
		}
		var got []string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %s", pattern, out)
		}
		if !equal(got, want) {
			t.Errorf("%s: got %v, want %v", pattern, got, want)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
