// Package logtail follows an app's log file as the agent writes it (internal/agent: NAME.log,
// rotated into NAME.log.1) by position: every line read carries the position after it,
// "{inode}:{offset}", so that a reader that lost its connection resumes right after the last
// line it got, with nothing lost or repeated, also when the file was rotated meanwhile. The web
// console's Log stream reads its own host's files with it, and the agent reads them with it for a
// server that streams a remote app's output (docs/console.md). It imports no domain package.
package logtail

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// MaxLine bounds the bytes of the file one line's text is read from: a longer line is read in
// pieces of at most MaxLine bytes, each with its own position, so that a reader holds at most this
// much of a line. A piece ends on a UTF-8 character boundary when the character is whole within
// its last 3 bytes (a piece is then up to 3 bytes shorter), so that a character is not cut in two.
const MaxLine = 16 << 10

// MaxText bounds the text of one line or piece as emitted: its bytes are made valid UTF-8, each
// run of invalid bytes replaced with U+FFFD (3 bytes), so a piece of MaxLine bytes of the file
// may be up to three times as long as text. Positions count the file's bytes, not the text's.
const MaxText = 3 * MaxLine

// Position is where a reader is in an app's log: a file (by inode) and an offset in it.
type Position struct {
	Ino uint64
	Off int64
}

// String is the position as an event id: "{inode}:{offset}".
func (p Position) String() string {
	return strconv.FormatUint(p.Ino, 10) + ":" + strconv.FormatInt(p.Off, 10)
}

// ParsePosition reads a position written by String.
func ParsePosition(s string) (Position, bool) {
	if len(s) > 41 {
		return Position{}, false
	}
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return Position{}, false
	}
	ino, err1 := strconv.ParseUint(a, 10, 64)
	off, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || off < 0 {
		return Position{}, false
	}
	return Position{ino, off}, true
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// Start is where a new reader starts: before the last n complete lines of the current file
// (looked for in its last 64 KiB). A file not written yet starts at its beginning.
func Start(path string, n int) Position {
	f, err := os.Open(path)
	if err != nil {
		return Position{}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Position{}
	}
	size := fi.Size()
	const window = 64 << 10
	from := max(0, size-window)
	buf := make([]byte, size-from)
	if _, err := f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return Position{Ino: inode(fi), Off: size}
	}
	// Only complete lines: start after the n-th newline from the end (not counting a last one).
	seen, cut := 0, int64(-1)
	end := len(buf)
	if end > 0 && buf[end-1] == '\n' {
		end--
	}
	if n <= 0 {
		cut = from + int64(end)
		if end < len(buf) {
			cut++
		}
	}
	for i := end - 1; i >= 0 && cut < 0; i-- {
		if buf[i] == '\n' {
			seen++
			if seen == n {
				cut = from + int64(i) + 1
			}
		}
	}
	if cut < 0 {
		cut = from
		if from > 0 { // inside a line: skip to the next one
			if i := bytes.IndexByte(buf, '\n'); i >= 0 {
				cut = from + int64(i) + 1
			}
		}
	}
	return Position{Ino: inode(fi), Off: cut}
}

// Read calls emit with every complete line written after pos (its text without the line end, as
// valid UTF-8, and the position after it) and returns the position after the last one emitted. When the file
// at pos was rotated away, the rest of it is read from path+".1" first. A file not written yet
// is not an error. When emit fails, Read stops and returns its error with the position of the
// last line emitted before.
func Read(path string, pos Position, emit func(text string, after Position) error) (Position, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return pos, nil // the app has not written yet
		}
		return pos, err
	}
	if pos.Ino != 0 && inode(fi) != pos.Ino {
		// Rotated: finish the old file (now .1) if it is the one being read.
		if old, err := os.Stat(path + ".1"); err == nil && inode(old) == pos.Ino {
			if at, err := readLines(path+".1", pos, true, emit); err != nil {
				return at, err
			}
		}
		pos = Position{Ino: inode(fi)}
	}
	if pos.Ino == 0 {
		pos.Ino = inode(fi)
	}
	if fi.Size() < pos.Off { // truncated in place
		pos.Off = 0
	}
	return readLines(path, pos, false, emit)
}

// readLines emits every complete line of the file after pos.Off (and, when all is set, a last
// line without its newline too: the file will not grow any more).
func readLines(path string, pos Position, all bool, emit func(string, Position) error) (Position, error) {
	f, err := os.Open(path)
	if err != nil {
		return pos, err
	}
	defer f.Close()
	if _, err := f.Seek(pos.Off, io.SeekStart); err != nil {
		return pos, err
	}
	br := bufio.NewReaderSize(f, MaxLine)
	for {
		line, err := br.ReadSlice('\n')
		complete := len(line) > 0 && line[len(line)-1] == '\n'
		piece := errors.Is(err, bufio.ErrBufferFull) // a long line: this much of it
		cut := 0                                     // bytes of a character the piece leaves to the next one
		if piece {
			cut = partialRune(line)
			line = line[:len(line)-cut]
		}
		if len(line) > 0 && (complete || piece || all) {
			next := Position{Ino: pos.Ino, Off: pos.Off + int64(len(line))}
			text := strings.ReplaceAll(strings.TrimRight(string(line), "\r\n"), "\r", "")
			if eerr := emit(strings.ToValidUTF8(text, "\uFFFD"), next); eerr != nil {
				return pos, eerr
			}
			pos = next
		}
		if cut > 0 {
			// The reader is past the cut bytes: read again from the position after the piece.
			if _, err := f.Seek(pos.Off, io.SeekStart); err != nil {
				return pos, err
			}
			br.Reset(f)
		}
		switch {
		case err == nil || piece:
		case errors.Is(err, io.EOF):
			return pos, nil
		default:
			return pos, err
		}
	}
}

// partialRune returns how many bytes at the end of b are the start of a UTF-8 character that
// continues after b (0 to 3): a character cut in two by the end of a piece. Bytes that could not
// be part of a valid character are not held back.
func partialRune(b []byte) int {
	for n := 1; n <= utf8.UTFMax-1 && n <= len(b); n++ {
		c := b[len(b)-n]
		if c < utf8.RuneSelf { // ASCII: no character continues past it
			return 0
		}
		if utf8.RuneStart(c) {
			if utf8.FullRune(b[len(b)-n:]) {
				return 0
			}
			return n
		}
	}
	return 0
}
