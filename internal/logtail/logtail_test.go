package logtail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// read collects the lines Read emits after pos, checking that each position is the one after its line.
func read(t *testing.T, path string, pos Position) ([]string, Position) {
	t.Helper()
	var lines []string
	last := pos
	pos, err := Read(path, pos, func(text string, after Position) error {
		if after.Ino == last.Ino && after.Off <= last.Off {
			t.Fatalf("position %v does not move on from %v", after, last)
		}
		last = after
		lines = append(lines, text)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) > 0 && pos != last {
		t.Fatalf("Read returned %v, its last line ends at %v", pos, last)
	}
	return lines, pos
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// TestResume: a reader resumes from a position after the file grew, and after it was rotated
// (the rest of the old file first), without losing or repeating a line; a partial line waits.
func TestResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	if got, pos := read(t, path, Start(path, 100)); len(got) != 0 || pos != (Position{}) {
		t.Fatalf("no file yet: %v at %v", got, pos)
	}
	appendTo(t, path, "a\nb\npart")
	got, pos := read(t, path, Start(path, 100))
	if strings.Join(got, ",") != "a,b" {
		t.Fatalf("first = %v", got)
	}
	id, ok := ParsePosition(pos.String())
	if !ok || id != pos {
		t.Fatalf("position %v does not round-trip", pos)
	}
	appendTo(t, path, "ial\r\nc\n")
	got, pos = read(t, path, id)
	if strings.Join(got, ",") != "partial,c" {
		t.Fatalf("after growth = %v", got)
	}
	// Rotation as the agent does it: rename to .1, new file.
	appendTo(t, path, "d\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, "e\n")
	got, pos = read(t, path, pos)
	if strings.Join(got, ",") != "d,e" {
		t.Fatalf("across rotation = %v", got)
	}
	got, _ = read(t, path, pos)
	if len(got) != 0 {
		t.Fatalf("repeated = %v", got)
	}
	for _, bad := range []string{"", "1", "x:1", "1:-1", "1:x", ":", "1:2:3"} {
		if _, ok := ParsePosition(bad); ok {
			t.Errorf("ParsePosition(%q) ok", bad)
		}
	}
}

// TestStartTail: a new reader starts before the last n complete lines; 0 starts at the end.
func TestStartTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	for i := range 10 {
		appendTo(t, path, strings.Repeat("x", i)+"\n")
	}
	got, _ := read(t, path, Start(path, 3))
	if strings.Join(got, ",") != "xxxxxxx,xxxxxxxx,xxxxxxxxx" {
		t.Fatalf("tail 3 = %v", got)
	}
	if got, _ := read(t, path, Start(path, 0)); len(got) != 0 {
		t.Fatalf("tail 0 = %v", got)
	}
}

// TestLongLine: a line longer than MaxLine comes in pieces of at most MaxLine bytes, all of it,
// and a reader stopped inside it resumes at the next piece.
func TestLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	long := strings.Repeat("y", 2*MaxLine+10)
	appendTo(t, path, long+"\nz\n")
	var pieces []string
	var stopAt Position
	_, err := Read(path, Position{}, func(text string, after Position) error {
		if len(text) > MaxLine {
			t.Fatalf("a piece of %d bytes", len(text))
		}
		pieces = append(pieces, text)
		if len(pieces) == 1 {
			stopAt = after
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pieces, "") != long+"z" || pieces[len(pieces)-1] != "z" {
		t.Fatalf("%d pieces do not make the line", len(pieces))
	}
	rest, _ := read(t, path, stopAt)
	if strings.Join(rest, "") != long[MaxLine:]+"z" {
		t.Fatalf("resumed inside the line: %d pieces", len(rest))
	}
}

// TestNotUTF8: lines that are not UTF-8, and long lines of multibyte characters, come as valid
// UTF-8 pieces of at most MaxText bytes; a piece never cuts a character in two, its position
// counts the file's bytes exactly, and a reader resumes after any piece with the rest of the line.
func TestNotUTF8(t *testing.T) {
	cjk := strings.Repeat("日", (2*MaxLine+1)/3) // 3 bytes each
	cjk += strings.Repeat("x", 2*MaxLine+1-len(cjk))
	for name, line := range map[string]string{
		"latin-1":       strings.Repeat("\xe9", 10000),
		"latin-1, long": strings.Repeat("caf\xe9 ", MaxLine),
		"CJK":           cjk,
		"CJK, shifted":  "ab" + cjk[:2*MaxLine-1],
		"4-byte":        "a" + strings.Repeat("😀", MaxLine/2),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.log")
			appendTo(t, path, line+"\nnext\n")
			type piece struct {
				text  string
				after Position
			}
			var pieces []piece
			last := Position{}
			_, err := Read(path, Position{}, func(text string, after Position) error {
				if !utf8.ValidString(text) || len(text) > MaxText {
					t.Fatalf("piece %d: %d bytes, valid UTF-8 %v", len(pieces), len(text), utf8.ValidString(text))
				}
				if after.Off-last.Off > MaxLine {
					t.Fatalf("piece %d covers %d bytes of the file", len(pieces), after.Off-last.Off)
				}
				last = after
				pieces = append(pieces, piece{text, after})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(pieces); n < 2 || pieces[n-1].text != "next" || pieces[n-1].after.Off != int64(len(line)+len("\nnext\n")) {
				t.Fatalf("%d pieces, the last %+v", n, pieces[n-1])
			}
			var all strings.Builder
			for i, p := range pieces[:len(pieces)-1] {
				all.WriteString(p.text)
				if off := int(p.after.Off); off < len(line) && !utf8.RuneStart(line[off]) {
					t.Errorf("piece %d ends inside a character (at %d)", i, off)
				}
			}
			if want := strings.ToValidUTF8(line, "\uFFFD"); utf8.ValidString(line) && all.String() != want {
				t.Errorf("the pieces do not make the line")
			}
			// Resume after each piece: the rest of the file, as from the start.
			for i, p := range pieces[:len(pieces)-1] {
				rest, _ := read(t, path, p.after)
				if len(rest) != len(pieces)-1-i || rest[len(rest)-1] != "next" {
					t.Fatalf("resumed after piece %d: %d pieces", i, len(rest))
				}
				if i+1 < len(pieces)-1 && rest[0] != pieces[i+1].text {
					t.Fatalf("resumed after piece %d: a different next piece", i)
				}
			}
		})
	}
}

func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"1:2", "0:0", "18446744073709551615:9223372036854775807", "x", "1:-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := ParsePosition(s)
		if !ok {
			return
		}
		if q, ok := ParsePosition(p.String()); !ok || q != p || p.Off < 0 {
			t.Fatalf("%q → %v does not round-trip", s, p)
		}
	})
}
