package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/logtail"
)

// followLines runs writeFollow for f until it has sent a line with text last, and returns the
// lines it sent.
func followLines(t *testing.T, a *Agent, f agentapi.LogFollow, last string) []agentapi.LogLine {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- a.writeFollow(ctx, pw, f) }()
	got := make(chan []agentapi.LogLine, 1)
	go func() {
		var out []agentapi.LogLine
		defer func() { got <- out }()
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 8*logtail.MaxLine) // the server's bound of a line's JSON
		for sc.Scan() {
			var l agentapi.LogLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("not a LogLine: %v", err)
				return
			}
			out = append(out, l)
			if l.Text == last {
				return
			}
		}
		t.Errorf("the lines ended: %v", sc.Err())
	}()
	var out []agentapi.LogLine
	select {
	case out = <-got:
	case <-time.After(10 * time.Second):
		t.Fatalf("no line %q", last)
	}
	cancel()
	pr.Close()
	<-done
	return out
}

// TestLogFollowNotUTF8: a line that is not UTF-8, and a long line of multibyte characters cut
// into pieces, go out as lines the server takes (valid UTF-8, at most logtail.MaxText bytes),
// each with the exact position after it; a follow resumed after any of them sends the rest.
func TestLogFollowNotUTF8(t *testing.T) {
	dir := t.TempDir()
	a := &Agent{cfg: Config{StateDir: dir}, apps: newAppSet(nil)}
	a.apps.byName["web"] = &app{cfg: AppConfig{Name: "web", Site: "/sites/web"}}
	path := LogPath(dir, "web")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	cjk := strings.Repeat("語", (2*logtail.MaxLine+1)/3)
	cjk += strings.Repeat("x", 2*logtail.MaxLine+1-len(cjk))
	content := strings.Repeat("\xe9", 10000) + "\n" + cjk + "\nend\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := followLines(t, a, agentapi.LogFollow{ID: "f1", App: "/sites/web", Tail: 100}, "end")
	if len(lines) < 4 {
		t.Fatalf("%d lines", len(lines))
	}
	var cjkText strings.Builder
	for i, l := range lines {
		if !utf8.ValidString(l.Text) || len(l.Text) > logtail.MaxText {
			t.Fatalf("line %d: %d bytes, valid UTF-8 %v", i, len(l.Text), utf8.ValidString(l.Text))
		}
		pos, ok := logtail.ParsePosition(l.ID)
		if !ok {
			t.Fatalf("line %d has no position: %q", i, l.ID)
		}
		if i > 0 && i < len(lines)-1 {
			cjkText.WriteString(l.Text)
		}
		if i == 0 && (pos.Off != 10001 || l.Text != strings.Repeat("\uFFFD", 1)) {
			t.Errorf("the latin-1 line: %q… at %v", l.Text[:min(len(l.Text), 9)], pos)
		}
	}
	if cjkText.String() != cjk {
		t.Errorf("the pieces do not make the CJK line")
	}
	if end, _ := logtail.ParsePosition(lines[len(lines)-1].ID); end.Off != int64(len(content)) {
		t.Errorf("the last position %v, the file has %d bytes", end, len(content))
	}
	// Resumed after each line (a browser's Last-Event-ID): the lines after it, the same.
	for i, l := range lines[:len(lines)-1] {
		rest := followLines(t, a, agentapi.LogFollow{ID: "f2", App: "/sites/web", After: l.ID}, "end")
		if len(rest) != len(lines)-1-i || rest[0] != lines[i+1] {
			t.Fatalf("resumed after line %d: %d lines", i, len(rest))
		}
	}
}
