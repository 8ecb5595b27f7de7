package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyLogger
)

// RequestID returns the request id of ctx, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(keyRequestID).(string)
	return s
}

// Logger returns the request's logger (with its request id), or slog.Default().
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(keyLogger).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// newID returns a random request id shaped like a GUID, as Azure's are.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Observer receives one call per finished request, for metrics.
type Observer func(route, method string, status int, d time.Duration)

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	size   int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.size += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Middleware wraps every request: a request id (echoed as x-ms-request-id and request-id), a logger
// carrying it, one access line (method, path without query, route, status, size, duration — never
// a header or query value, so never a token), panic recovery (500 in the API's shape via shapeFor,
// the stack in the log) and the observer.
//
// The access line is logged at debug, so that the hot paths (token mints, vault reads) write no
// line per request at the default level; AccessLog raises it to info. An answer with a 5xx status
// is logged at warn either way.
type Middleware struct {
	Log       *slog.Logger
	Observe   Observer
	ShapeFor  func(r *http.Request) Shape // nil: Plain
	Now       func() time.Time
	AccessLog bool // log every request at info (the operator's access log)
}

// Wrap returns next wrapped in the middleware.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	now := m.Now
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := now()
		id := newID()
		log := m.Log.With(slog.String("request_id", id))
		ctx := context.WithValue(r.Context(), keyRequestID, id)
		ctx = context.WithValue(ctx, keyLogger, log)
		r = r.WithContext(ctx)
		w.Header().Set("x-ms-request-id", id)
		w.Header().Set("request-id", id)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.LogAttrs(ctx, slog.LevelError, "panic in handler",
					slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
				if sw.status == 0 {
					shape := Shape(Plain)
					if m.ShapeFor != nil {
						shape = m.ShapeFor(r)
					}
					WriteError(sw, r, shape, errs.E(errs.Internal, "internal error"))
				}
			}
			d := now().Sub(start)
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			level := slog.LevelDebug
			switch {
			case sw.status >= 500:
				level = slog.LevelWarn
			case m.AccessLog:
				level = slog.LevelInfo
			}
			if log.Enabled(ctx, level) {
				log.LogAttrs(ctx, level, "http",
					slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", route),
					slog.Int("status", sw.status), slog.Int("bytes", sw.size), slog.Duration("duration", d))
			}
			if m.Observe != nil {
				m.Observe(route, r.Method, sw.status, d)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}
