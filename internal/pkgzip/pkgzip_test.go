package pkgzip

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entry is one entry of a test zip.
type entry struct {
	name string
	body string
	mode fs.FileMode // 0: 0644 file (or 0755 dir when name ends in "/")
}

func makeZip(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		switch {
		case e.mode != 0:
			h.SetMode(e.mode)
		case strings.HasSuffix(e.name, "/"):
			h.SetMode(fs.ModeDir | 0o755)
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if e.body == "" {
			continue
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func unpack(t *testing.T, z []byte, lim Limits) (string, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "app")
	return dir, Unpack(bytes.NewReader(z), int64(len(z)), dir, lim)
}

// refusedAt checks that err refuses the package, naming entry (when not "") and saying why.
func refusedAt(t *testing.T, dir string, err error, entry, why string) {
	t.Helper()
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("want a refusal, got %v", err)
	}
	if entry != "" && !strings.Contains(err.Error(), `"`+entry+`"`) {
		t.Errorf("the error does not name the entry %q: %v", entry, err)
	}
	if !strings.Contains(err.Error(), why) {
		t.Errorf("the error does not say %q: %v", why, err)
	}
	if _, serr := os.Stat(dir); !errors.Is(serr, fs.ErrNotExist) {
		t.Errorf("the target %s is left behind after a refusal (%v)", dir, serr)
	}
}

func TestUnpackByteForByte(t *testing.T) {
	big := strings.Repeat("module.exports = async function (context, req) { context.res = { body: 'hi' }; };\n", 5000)
	entries := []entry{
		{name: "host.json", body: `{"version":"2.0"}`},
		{name: "HttpTrigger/"},
		{name: "HttpTrigger/function.json", body: `{"bindings":[]}`},
		{name: "HttpTrigger/index.js", body: big},
		{name: "bin/handler", body: "#!/bin/sh\necho hi\n", mode: 0o755},
		{name: "deep/er/still/file.txt", body: ""}, // parents without directory entries
		{name: `win\style\path.txt`, body: "backslashes are separators"},
	}
	dir, err := unpack(t, makeZip(t, entries...), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, filepath.FromSlash(strings.ReplaceAll(e.name, `\`, "/")))
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if strings.HasSuffix(e.name, "/") {
			if !st.IsDir() || st.Mode().Perm() != 0o755 {
				t.Errorf("%s: %v, want a directory 0755", e.name, st.Mode())
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != e.body {
			t.Errorf("%s: %d bytes differ from the %d packed", e.name, len(got), len(e.body))
		}
		want := fs.FileMode(0o644)
		if e.mode&0o111 != 0 {
			want = 0o755
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", e.name, st.Mode(), want)
		}
	}
	for _, d := range []string{"deep", "deep/er", "deep/er/still", "win"} {
		if st, err := os.Stat(filepath.Join(dir, d)); err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v %v, want a directory 0755", d, st, err)
		}
	}
}

func TestUnpackRefusesEscapes(t *testing.T) {
	for _, name := range []string{
		"../evil.js", "a/../../evil.js", "/etc/passwd", `..\evil.js`, `a\..\..\evil.js`,
		`C:\Windows\evil.js`, "c:evil.js", "a//b", "./", "a/\x00b", "file.txt:stream",
	} {
		t.Run(name, func(t *testing.T) {
			body := "x"
			if strings.HasSuffix(name, "/") {
				body = ""
			}
			z := makeZip(t, entry{name: "host.json", body: "{}"}, entry{name: name, body: body})
			dir, err := unpack(t, z, Limits{})
			refusedAt(t, dir, err, "", "")
			if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "evil.js")); err == nil {
				t.Error("evil.js was written outside the target")
			}
		})
	}
	dir, err := unpack(t, makeZip(t, entry{name: "../evil.js", body: "x"}), Limits{})
	refusedAt(t, dir, err, "../evil.js", "leaves the package's directory")
}

func TestUnpackRefusesLinksAndSpecialFiles(t *testing.T) {
	for _, tc := range []struct {
		name, target string
		mode         fs.FileMode
		why          string
	}{
		{"out", "../../../../etc/passwd", fs.ModeSymlink | 0o777, "symbolic link"},
		{"abs", "/etc/passwd", fs.ModeSymlink | 0o777, "symbolic link"},
		{"inside", "host.json", fs.ModeSymlink | 0o777, "symbolic link"}, // refused too: no link at all
		{"fifo", "", fs.ModeNamedPipe | 0o644, "named pipe"},
		{"dev", "", fs.ModeDevice | 0o644, "device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := makeZip(t, entry{name: "host.json", body: "{}"}, entry{name: "lib/" + tc.name, body: tc.target, mode: tc.mode},
				entry{name: "lib/" + tc.name + "/x.js", body: "written through the link?"})
			dir, err := unpack(t, z, Limits{})
			refusedAt(t, dir, err, "lib/"+tc.name, tc.why)
		})
	}
}

func TestUnpackRefusesClashes(t *testing.T) {
	dir, err := unpack(t, makeZip(t, entry{name: "a.js", body: "1"}, entry{name: "a.js", body: "2"}), Limits{})
	refusedAt(t, dir, err, "a.js", "appears twice")
	dir, err = unpack(t, makeZip(t, entry{name: "a", body: "1"}, entry{name: "a/b.js", body: "2"}), Limits{})
	refusedAt(t, dir, err, "a/b.js", "which is a file")
	dir, err = unpack(t, makeZip(t, entry{name: "a/"}, entry{name: "a", body: "2"}), Limits{})
	refusedAt(t, dir, err, "a", "both a file and a directory")
	dir, err = unpack(t, []byte("PK\x03\x04 not really a zip"), Limits{})
	refusedAt(t, dir, err, "", "not a zip archive")
}

func TestUnpackRefusesBombs(t *testing.T) {
	zeros := strings.Repeat("\x00", 8<<20) // deflates about 1000 times
	t.Run("ratio", func(t *testing.T) {
		dir, err := unpack(t, makeZip(t, entry{name: "bomb.bin", body: zeros}), Limits{})
		refusedAt(t, dir, err, "bomb.bin", "zip bomb")
	})
	t.Run("small files compress as they like", func(t *testing.T) {
		// Under RatioFloor the ratio is not checked: a 512 KiB file of zeros (about 500 times)
		// is an ordinary file.
		if _, err := unpack(t, makeZip(t, entry{name: "sparse.bin", body: zeros[:512<<10]}), Limits{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("file", func(t *testing.T) {
		dir, err := unpack(t, makeZip(t, entry{name: "big.bin", body: zeros}), Limits{MaxFile: 1 << 20, MaxRatio: 1 << 20})
		refusedAt(t, dir, err, "big.bin", "allowed for one file")
	})
	t.Run("total", func(t *testing.T) {
		z := makeZip(t, entry{name: "a.bin", body: zeros[:1<<20]}, entry{name: "b.bin", body: zeros[:1<<20]})
		dir, err := unpack(t, z, Limits{MaxTotal: 3 << 19, MaxRatio: 1 << 20})
		refusedAt(t, dir, err, "", "allowed uncompressed")
	})
	t.Run("entries", func(t *testing.T) {
		dir, err := unpack(t, makeZip(t, entry{name: "a"}, entry{name: "b"}, entry{name: "c"}), Limits{MaxEntries: 2})
		refusedAt(t, dir, err, "", "3 entries")
	})
	// An entry that declares a few bytes and inflates to megabytes: the limits count what is
	// inflated, not what is declared.
	t.Run("lying sizes", func(t *testing.T) {
		var comp bytes.Buffer
		fw, _ := flate.NewWriter(&comp, flate.BestCompression)
		_, _ = fw.Write([]byte(zeros))
		_ = fw.Close()
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		h := &zip.FileHeader{Name: "liar.bin", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE([]byte(zeros)),
			CompressedSize64: uint64(comp.Len()), UncompressedSize64: 10}
		h.SetMode(0o644)
		w, err := zw.CreateRaw(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(comp.Bytes())
		_ = zw.Close()
		dir, err := unpack(t, buf.Bytes(), Limits{MaxFile: 1 << 20, MaxRatio: 1 << 20})
		refusedAt(t, dir, err, "liar.bin", "")
	})
}

func TestUnpackNeedsANewDirectory(t *testing.T) {
	dir := t.TempDir() // exists already
	z := makeZip(t, entry{name: "host.json", body: "{}"})
	err := Unpack(bytes.NewReader(z), int64(len(z)), dir, Limits{})
	if err == nil || errors.Is(err, ErrRefused) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("unpacking into an existing directory: %v, want a not-refused fs.ErrExist", err)
	}
}

// FuzzUnpack: whatever the bytes, Unpack either refuses them (and leaves nothing) or writes
// regular files and directories only, all inside the target, files 0644 or 0755.
func FuzzUnpack(f *testing.F) {
	f.Add(makeZip(f, entry{name: "host.json", body: `{"version":"2.0"}`}, entry{name: "f/index.js", body: "x", mode: 0o755}))
	f.Add(makeZip(f, entry{name: "../evil", body: "x"}))
	f.Add(makeZip(f, entry{name: `a\..\..\b`, body: "x"}))
	f.Add(makeZip(f, entry{name: "l", body: "/etc", mode: fs.ModeSymlink | 0o777}))
	f.Add(makeZip(f, entry{name: "d/"}, entry{name: "d/x", body: "y"}))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "app")
		err := Unpack(bytes.NewReader(raw), int64(len(raw)), dir, Limits{MaxEntries: 100, MaxTotal: 1 << 20, MaxFile: 1 << 19})
		entries, rerr := os.ReadDir(parent)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if err != nil {
			if len(entries) != 0 {
				t.Fatalf("refused (%v) but left %d entries behind", err, len(entries))
			}
			return
		}
		if len(entries) != 1 || entries[0].Name() != "app" {
			t.Fatalf("wrote outside the target: %v", entries)
		}
		werr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			st, err := os.Lstat(p)
			if err != nil {
				return err
			}
			switch m := st.Mode(); {
			case m.IsDir():
				if m.Perm() != 0o755 {
					t.Errorf("%s: directory mode %v", p, m)
				}
			case m.IsRegular():
				if m.Perm() != 0o644 && m.Perm() != 0o755 {
					t.Errorf("%s: file mode %v", p, m)
				}
			default:
				t.Errorf("%s: not a regular file or directory: %v", p, m)
			}
			return nil
		})
		if werr != nil {
			t.Fatal(werr)
		}
	})
}
