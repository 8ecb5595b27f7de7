package config

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// LoadKEK returns the key-encryption key: from LANYARD_KEK (c.KEK) if set, else from kek_file.
// Errors say which source is wrong and why, and never repeat the key.
func (c Config) LoadKEK() (*seal.KEK, error) {
	switch {
	case c.KEK != "":
		k, err := seal.ParseKEKBase64(string(c.KEK))
		if err != nil {
			return nil, errs.Wrap(errs.Invalid, err, EnvKEK)
		}
		return k, nil
	case c.KEKFile != "":
		k, err := seal.LoadKEKFile(c.KEKFile)
		if err != nil {
			return nil, errs.Wrap(errs.Invalid, err, c.name("kek_file"))
		}
		return k, nil
	}
	return nil, errs.E(errs.Invalid, "no key-encryption key: set kek_file or LANYARD_KEK")
}

// LoadOrCreateKEK is LoadKEK, except that when the key comes from kek_file and that file does
// not exist, it creates it (and its directory, mode 0700) with a new key from rand. It is meant
// for `lanyard dev`, whose data directory is created on first start.
func (c Config) LoadOrCreateKEK(rand io.Reader) (*seal.KEK, error) {
	if c.KEK != "" || c.KEKFile == "" {
		return c.LoadKEK()
	}
	if _, err := os.Lstat(c.KEKFile); !errors.Is(err, fs.ErrNotExist) {
		return c.LoadKEK()
	}
	if err := os.MkdirAll(filepath.Dir(c.KEKFile), 0o700); err != nil {
		return nil, errs.Wrap(errs.Invalid, err, c.name("kek_file")+": cannot create the directory of "+c.KEKFile)
	}
	k, err := seal.CreateKEKFile(c.KEKFile, rand)
	if errs.Is(err, errs.Conflict) {
		return c.LoadKEK() // created meanwhile by another process
	}
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, c.name("kek_file"))
	}
	return k, nil
}
