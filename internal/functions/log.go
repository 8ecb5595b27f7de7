package functions

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"time"
)

// funcLog writes the function log in the log stream's format (functions.md §11, Azure's):
// "2024-11-19T19:12:32Z   [Information]   Executing 'Functions.X' (...)", one line per entry; an
// entry with line breaks becomes several lines with the same prefix.
type funcLog struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
	buf []byte
}

// The levels as the log stream spells them.
const (
	levelTrace       = "Trace"
	levelDebug       = "Debug"
	levelInformation = "Information"
	levelWarning     = "Warning"
	levelError       = "Error"
)

// levelOf maps a worker's level name (RpcLog's, functions.md §11) to the log stream's.
func levelOf(s string) string {
	switch strings.ToLower(s) {
	case "trace", "verbose":
		return levelTrace
	case "debug":
		return levelDebug
	case "warning", "warn":
		return levelWarning
	case "error", "critical":
		return levelError
	}
	return levelInformation
}

func (l *funcLog) write(level, msg string) {
	if l == nil || l.w == nil {
		return
	}
	ts := l.now().UTC().Format("2006-01-02T15:04:05Z")
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf[:0]
	for _, line := range strings.Split(strings.TrimRight(msg, "\r\n"), "\n") {
		b = append(b, ts...)
		b = append(b, "   ["...)
		b = append(b, level...)
		b = append(b, "]   "...)
		b = append(b, strings.TrimRight(line, "\r")...)
		b = append(b, '\n')
	}
	_, _ = l.w.Write(b)
	l.buf = b
}

// lineWriter turns a worker's stdout or stderr into log lines.
type lineWriter struct {
	log   *funcLog
	level string
	mu    sync.Mutex
	part  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		w.log.write(w.level, string(w.part[:i]))
		w.part = w.part[i+1:]
	}
	if len(w.part) > 64<<10 { // a very long line is cut
		w.log.write(w.level, string(w.part))
		w.part = w.part[:0]
	}
	return len(p), nil
}
