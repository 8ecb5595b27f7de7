// Package pkgzip unpacks a deployment package (a function app's zip) into a new directory,
// safely: no entry lands outside the directory (`..`, absolute paths, drive letters and
// backslashes taken as Windows separators are refused), no symbolic link, device or pipe is
// made, and the number of entries, the total and per-file uncompressed sizes and the
// compression ratio are bounded, counting the bytes actually inflated rather than trusting the
// sizes the zip declares (zip bombs). Files keep only their executable bit (0755 or 0644);
// directories are 0755.
//
// It owns the unpacking only: where the zip comes from and which digest it must have is the
// caller's (the agent checks the digest before it unpacks). The limits are Lanyard's own:
// Azure's zip deploy (Kudu) documents none but the plan's disk quota.
package pkgzip

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"unicode/utf8"
)

// Limits bound what Unpack accepts. Zero fields take the defaults.
type Limits struct {
	MaxEntries int   // files and directories; default 20,000
	MaxTotal   int64 // bytes, uncompressed, all files together; default 1 GiB
	MaxFile    int64 // bytes, uncompressed, one file; default 512 MiB
	// MaxRatio bounds one file's uncompressed size over its compressed size, for files over
	// RatioFloor bytes (small files of one repeated byte compress far and are harmless); default
	// 200 (text and JavaScript compress 3 to 10 times; a deflate bomb 1000 times).
	MaxRatio   int64
	RatioFloor int64 // default 1 MiB
}

// The defaults of Limits.
const (
	DefaultMaxEntries = 20_000
	DefaultMaxTotal   = 1 << 30
	DefaultMaxFile    = 512 << 20
	DefaultMaxRatio   = 200
	DefaultRatioFloor = 1 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = DefaultMaxTotal
	}
	if l.MaxFile <= 0 {
		l.MaxFile = DefaultMaxFile
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultMaxRatio
	}
	if l.RatioFloor <= 0 {
		l.RatioFloor = DefaultRatioFloor
	}
	return l
}

// ErrRefused is wrapped by every error about the package's content (as opposed to the disk's):
// errors.Is(err, ErrRefused) says the package is at fault.
var ErrRefused = errors.New("the package is refused")

// refused is an error naming the entry at fault.
type refused struct {
	entry string
	msg   string
}

func (e *refused) Error() string {
	if e.entry == "" {
		return "package: " + e.msg
	}
	return fmt.Sprintf("package entry %q: %s", clip(e.entry), e.msg)
}

func (e *refused) Is(target error) bool { return target == ErrRefused }

func refuse(entry, format string, args ...any) error {
	return &refused{entry: entry, msg: fmt.Sprintf(format, args...)}
}

// clip keeps error messages short and printable whatever the entry's name is.
func clip(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// Check checks the zip r (size bytes) as Unpack does before it writes anything: every entry's
// name and type, duplicates and file/directory clashes, the entry count and the sizes the
// entries declare (what they inflate to is checked by Unpack as it writes). An error about the
// content wraps ErrRefused and names the entry.
func Check(r io.ReaderAt, size int64, lim Limits) error {
	_, _, err := check(r, size, lim.withDefaults())
	return err
}

func check(r io.ReaderAt, size int64, lim Limits) (*zip.Reader, []string, error) {
	zr, err := zip.NewReader(r, size)
	if errors.Is(err, zip.ErrInsecurePath) {
		err = nil // entryName says which entry, and why
	}
	if err != nil {
		return nil, nil, refuse("", "not a zip archive: %v", err)
	}
	if len(zr.File) > lim.MaxEntries {
		return nil, nil, refuse("", "%d entries, more than the %d allowed", len(zr.File), lim.MaxEntries)
	}
	names := make([]string, len(zr.File))
	seen := make(map[string]bool, len(zr.File))
	var declared uint64
	for i, f := range zr.File {
		name, err := entryName(f)
		if err != nil {
			return nil, nil, err
		}
		if err := entryType(f); err != nil {
			return nil, nil, err
		}
		if seen[name] {
			return nil, nil, refuse(f.Name, "appears twice in the package")
		}
		seen[name] = true
		names[i] = name
		// What the entries declare is checked first (cheaply); what they inflate to is checked
		// again as they are written. Capping each addend keeps the sum from wrapping.
		if declared += min(f.UncompressedSize64, 1<<62); declared > uint64(lim.MaxTotal) {
			return nil, nil, refuse("", "declares more than the %d bytes allowed uncompressed", lim.MaxTotal)
		}
	}
	// A name used both as a file and as a directory (or a directory's prefix) is refused too.
	for i, f := range zr.File {
		if seen[names[i]+"/"] && !f.FileInfo().IsDir() {
			return nil, nil, refuse(f.Name, "is both a file and a directory")
		}
		for p := path.Dir(strings.TrimSuffix(names[i], "/")); p != "."; p = path.Dir(p) {
			if seen[p] {
				return nil, nil, refuse(f.Name, "lies under %q, which is a file", p)
			}
		}
	}
	return zr, names, nil
}

// Unpack unpacks the zip r (size bytes) into dir, which it creates (mode 0755; its parent must
// exist and dir must not). On any error dir is removed again: a caller never sees half a
// package.
func Unpack(r io.ReaderAt, size int64, dir string, lim Limits) (err error) {
	lim = lim.withDefaults()
	// Every name is checked before anything is written.
	zr, names, err := check(r, size, lim)
	if err != nil {
		return err
	}

	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("package: creating %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	// os.Root confines every operation to dir even if a check above were wrong.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("package: opening %s: %w", dir, err)
	}
	defer root.Close()
	var total int64
	for i, f := range zr.File {
		name := names[i]
		if f.FileInfo().IsDir() {
			if err := root.MkdirAll(strings.TrimSuffix(name, "/"), 0o755); err != nil {
				return fmt.Errorf("package entry %q: %w", clip(f.Name), err)
			}
			continue
		}
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("package entry %q: %w", clip(f.Name), err)
			}
		}
		n, err := writeFile(root, f, name, lim, lim.MaxTotal-total)
		if err != nil {
			return err
		}
		total += n
	}
	return nil
}

// entryName checks f's name and returns it cleaned, slash-separated and relative; a
// directory's ends in "/".
func entryName(f *zip.File) (string, error) {
	raw := f.Name
	switch {
	case raw == "":
		return "", refuse(raw, "has no name")
	case strings.ContainsRune(raw, 0):
		return "", refuse(raw, "has a NUL byte in its name")
	case !utf8.ValidString(raw):
		return "", refuse(raw, "is not valid UTF-8")
	case len(raw) > 1024:
		return "", refuse(raw, "has a name over 1024 bytes")
	}
	// Zips written on Windows may use backslashes; they are separators there, so they are
	// taken as such here (a name that is safe only with "\" read literally is refused).
	name := strings.ReplaceAll(raw, `\`, "/")
	if strings.HasPrefix(name, "/") {
		return "", refuse(raw, "is an absolute path")
	}
	if len(name) >= 2 && name[1] == ':' {
		return "", refuse(raw, "names a drive (%s)", name[:2])
	}
	isDir := strings.HasSuffix(name, "/")
	for _, part := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		switch part {
		case "..":
			return "", refuse(raw, "leaves the package's directory (..)")
		case "":
			return "", refuse(raw, "has an empty path element")
		}
		if strings.ContainsRune(part, ':') {
			// An NTFS alternate stream or a device name on Windows; never in a real package.
			return "", refuse(raw, "has a ':' in a path element")
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", refuse(raw, "names the package's directory itself")
	}
	if !fs.ValidPath(clean) {
		return "", refuse(raw, "is not a relative path inside the package")
	}
	if isDir || f.FileInfo().IsDir() {
		clean += "/"
	}
	return clean, nil
}

// entryType accepts regular files and directories only.
func entryType(f *zip.File) error {
	m := f.Mode()
	switch {
	case m&fs.ModeSymlink != 0:
		return refuse(f.Name, "is a symbolic link; packages may hold regular files and directories only")
	case m.IsDir(), m.IsRegular():
		return nil
	}
	return refuse(f.Name, "is a %s, not a regular file or directory", typeName(m))
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeIrregular != 0:
		return "irregular file"
	}
	return "special file"
}

// writeFile writes one file, counting what it inflates against the limits (left is what the
// total limit leaves), and returns its size.
func writeFile(root *os.Root, f *zip.File, name string, lim Limits, left int64) (int64, error) {
	mode := fs.FileMode(0o644)
	if f.Mode()&0o111 != 0 {
		mode = 0o755
	}
	if f.UncompressedSize64 > uint64(lim.MaxFile) {
		return 0, refuse(f.Name, "is %d bytes uncompressed, more than the %d allowed for one file", f.UncompressedSize64, lim.MaxFile)
	}
	rc, err := f.Open()
	if err != nil {
		return 0, refuse(f.Name, "cannot be read: %v", err)
	}
	defer rc.Close()
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return 0, fmt.Errorf("package entry %q: %w", clip(f.Name), err)
	}
	// The ratio and the limits are checked on the bytes inflated, never on the sizes the
	// entry declares (a bomb lies about them), and reading stops at the first byte past them.
	limit, why := lim.MaxFile, fmt.Sprintf("inflates to more than the %d bytes allowed for one file", lim.MaxFile)
	if left < limit {
		limit, why = left, fmt.Sprintf("takes the package past the %d bytes allowed uncompressed", lim.MaxTotal)
	}
	if c := int64(f.CompressedSize64); c < (1<<62)/lim.MaxRatio {
		if capped := max(c*lim.MaxRatio, lim.RatioFloor); capped < limit {
			limit, why = capped, fmt.Sprintf("inflates %d bytes to more than %d, over %d times (a zip bomb?)", c, capped, lim.MaxRatio)
		}
	}
	n, err := io.Copy(out, io.LimitReader(rc, limit+1))
	cerr := out.Close()
	switch {
	case err != nil:
		return 0, refuse(f.Name, "cannot be read: %v", err)
	case cerr != nil:
		return 0, fmt.Errorf("package entry %q: %w", clip(f.Name), cerr)
	case n > limit:
		return 0, refuse(f.Name, "%s", why)
	}
	// The umask may have taken bits away; the mode is the package's, not the process's.
	if err := root.Chmod(name, mode); err != nil {
		return 0, fmt.Errorf("package entry %q: %w", clip(f.Name), err)
	}
	return n, nil
}
