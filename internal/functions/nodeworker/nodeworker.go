package nodeworker

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Version is the worker's version; it changes whenever the embedded JavaScript does.
const Version = "1.1.0"

// Entry is the worker's entry file among the files Script writes.
const Entry = "worker.js"

//go:embed js/*.js
var files embed.FS

// Script writes the embedded worker's files into dir (created if missing; each file mode 0644,
// written to a temporary file and renamed, so a worker starting meanwhile never reads half a
// file) and returns the path of the entry file to give node. A file that already holds the
// same bytes is left alone.
func Script(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("nodeworker: %w", err)
	}
	names, err := fs.Glob(files, "js/*.js")
	if err != nil {
		return "", fmt.Errorf("nodeworker: %w", err)
	}
	for _, name := range names {
		data, err := files.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("nodeworker: %w", err)
		}
		if err := writeAtomic(filepath.Join(dir, filepath.Base(name)), data); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, Entry), nil
}

func writeAtomic(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("nodeworker: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename: a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("nodeworker: write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("nodeworker: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("nodeworker: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("nodeworker: %w", err)
	}
	return nil
}
