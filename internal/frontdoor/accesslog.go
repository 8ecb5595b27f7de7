package frontdoor

import (
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
	e.logMu.Lock()
	_, _ = e.AccessLog.Write(b)
	e.logMu.Unlock()
	*bp = b
	lineBufs.Put(bp)
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
