package console

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
	s, h, err := newSecret(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	if !validSecret(s) || h != hashSecret(s) || strings.Contains(h, s) {
		t.Errorf("secret %q hash %q", s, h)
	}
	for _, bad := range []string{"", "x", s + "A", strings.Repeat("*", len(s))} {
		if validSecret(bad) {
			t.Errorf("validSecret(%q) = true", bad)
		}
	}
	tok := csrfToken(s)
	if !csrfValid(s, tok) || csrfValid(s, "") || csrfValid(s, tok[1:]) || csrfValid(s+"x", tok) || tok == s {
		t.Error("csrf tokens do not tell sessions apart")
	}
}

// sse collects the lines of the events sendNew writes.
func sse(t *testing.T, c *Console, path string, pos position) ([]string, position) {
	t.Helper()
	var b bytes.Buffer
	pos, err := c.sendNew(&b, path, pos)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		if d, ok := strings.CutPrefix(l, "data: "); ok {
			lines = append(lines, d)
		}
	}
	return lines, pos
}

// TestLogResume: a stream resumes from an event id after the file grew, and after it was rotated
// (the rest of the old file first), without losing or repeating a line; a partial line waits.
func TestLogResume(t *testing.T) {
	c := &Console{}
	path := filepath.Join(t.TempDir(), "app.log")
	write := func(s string) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	write("a\nb\npart")
	got, pos := sse(t, c, path, startPosition(path))
	if strings.Join(got, ",") != "a,b" {
		t.Fatalf("first = %v", got)
	}
	id, ok := parsePosition(pos.String())
	if !ok || id != pos {
		t.Fatalf("position %v does not round-trip", pos)
	}
	write("ial\nc\n")
	got, pos = sse(t, c, path, id)
	if strings.Join(got, ",") != "partial,c" {
		t.Fatalf("after growth = %v", got)
	}
	// Rotation as the agent does it: rename to .1, new file.
	write("d\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	write("e\n")
	got, pos = sse(t, c, path, pos)
	if strings.Join(got, ",") != "d,e" {
		t.Fatalf("across rotation = %v", got)
	}
	got, _ = sse(t, c, path, pos)
	if len(got) != 0 {
		t.Fatalf("repeated = %v", got)
	}
	for _, bad := range []string{"", "1", "x:1", "1:-1", "1:x"} {
		if _, ok := parsePosition(bad); ok {
			t.Errorf("parsePosition(%q) ok", bad)
		}
	}
}

func TestTemplatesParse(t *testing.T) {
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 20 {
		t.Errorf("%d pages", len(pages))
	}
}
