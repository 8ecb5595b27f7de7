package frontdoor

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The access log has one line per request, in the spirit of App Service's HTTP logs (W3C
// extended fields, space-separated, "-" for none):
//
//	2026-12-05T01:02:03.456Z 3f2a… 127.0.0.1 GET /api/hello 200 512 1.234 caller-oid "user agent"
//
// date-time (UTC), request id (X-ARR-LOG-ID), client IP, method, path, status, bytes sent, time
// taken in ms, the authenticated caller's object id, the user agent. The query string is left
// out: function keys and other secrets travel there.

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (f *FrontDoor) writeAccess(e *entry, info *reqInfo, r *http.Request, status int, n int64, d time.Duration) {
	bp := lineBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = f.cfg.Now().UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, ' ')
	b = append(b, info.id...)
	b = append(b, ' ')
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = "-"
	}
	b = append(b, ip...)
	b = append(b, ' ')
	b = appendToken(b, r.Method)
	b = append(b, ' ')
	b = appendToken(b, r.URL.EscapedPath())
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, n, 10)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', 3, 64)
	b = append(b, ' ')
	if info.caller != "" {
		b = appendToken(b, info.caller)
	} else {
		b = append(b, '-')
	}
	b = append(b, ' ', '"')
	ua := r.UserAgent()
	if len(ua) > 200 {
		ua = ua[:200]
	}
	for i := 0; i < len(ua); i++ {
		if c := ua[i]; c >= 0x20 && c < 0x7f && c != '"' {
			b = append(b, c)
		}
	}
	b = append(b, '"', '\n')
	e.log.add(b)
	*bp = b
	lineBufs.Put(bp)
}

// siteLog writes a site's access log lines (Lanyard's own): a request appends its line to a
// buffer and, when no write is under way, starts one in a goroutine, which writes every line
// pending by then, in order, until none is left. No request waits for the disk or holds a lock
// across a write (a write per request under a lock had cost the front door about 30% of its
// throughput on a loaded machine, docs/performance.md), and under load one write carries many
// lines. A line reaches the file microseconds after its answer, later when the disk is slow;
// what is pending when the agent is killed is lost.
type siteLog struct {
	w       io.Writer
	mu      sync.Mutex
	buf     []byte // lines not yet written
	spare   []byte // the buffer of the last write, for reuse
	writing bool   // a drain goroutine runs
	dropped int    // lines dropped since the last write because too much was pending
}

// Bounds of the pending lines and of one write (the agent's log rotates at 1 MiB and should
// not cut a line in two across files).
const (
	maxPendingLog = 8 << 20
	maxLogWrite   = 64 << 10
)

func (l *siteLog) add(line []byte) {
	l.mu.Lock()
	if len(l.buf)+len(line) > maxPendingLog {
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.buf = append(l.buf, line...)
	start := !l.writing
	l.writing = true
	l.mu.Unlock()
	if start {
		go l.drain()
	}
}

func (l *siteLog) drain() {
	for {
		l.mu.Lock()
		if l.dropped > 0 {
			l.buf = fmt.Appendf(l.buf, "- access log: %d lines dropped (the log could not be written as fast as requests came)\n", l.dropped)
			l.dropped = 0
		}
		if len(l.buf) == 0 {
			l.writing = false
			l.mu.Unlock()
			return
		}
		all := l.buf
		l.buf, l.spare = l.spare[:0], nil
		l.mu.Unlock()
		for b := all; len(b) > 0; {
			n := len(b)
			if n > maxLogWrite {
				// cut after the last whole line within the bound
				n = bytes.LastIndexByte(b[:maxLogWrite], '\n') + 1
				if n == 0 {
					n = maxLogWrite
				}
			}
			_, _ = l.w.Write(b[:n])
			b = b[n:]
		}
		l.mu.Lock()
		if cap(all) <= maxLogWrite*4 {
			l.spare = all[:0] // the whole buffer: b was resliced past what it wrote
		}
		l.mu.Unlock()
	}
}

// wait waits (at most d) until the pending lines are written.
func (l *siteLog) wait(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Millisecond) {
		l.mu.Lock()
		done := !l.writing
		l.mu.Unlock()
		if done {
			return
		}
	}
}

// appendToken appends s with spaces and control characters replaced, so that a line stays one
// line of fields whatever the client sent.
func appendToken(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	if len(s) > 1024 {
		s = s[:1024]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c == 0x7f || c == '"' {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}
