package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// Stream sends every recorded event, as it happens, to a file or to syslog, for a SIEM
// (Lanyard's own). It never slows the recorder down: events wait in a bounded queue, and when
// the destination cannot keep up the overflow is dropped and counted (the store still has every
// event; `lanyard audit export` reads them from there).
type Stream struct {
	dest    string
	w       io.WriteCloser
	syslog  bool
	queue   chan Event
	dropped atomic.Int64
	log     *slog.Logger
}

// StreamQueue is how many events may wait for a slow destination.
const StreamQueue = 10_000

// OpenStream opens a destination: "file:/path" (JSON lines, appended, mode 0600), "syslog"
// (the local syslog daemon), or "syslog+udp://host:port", "syslog+tcp://host:port",
// "syslog+unix:///path" (one JSON message per event, facility auth, severity info; tag lanyard).
func OpenStream(dest string, log *slog.Logger) (*Stream, error) {
	s := &Stream{dest: dest, queue: make(chan Event, StreamQueue), log: log}
	switch {
	case strings.HasPrefix(dest, "file:"):
		path := strings.TrimPrefix(dest, "file:")
		if path == "" {
			return nil, errs.E(errs.Invalid, "audit.stream %q: a file: destination needs a path", dest)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit.stream: %w", err)
		}
		s.w = f
	case dest == "syslog":
		w, err := syslog.New(syslog.LOG_AUTH|syslog.LOG_INFO, "lanyard")
		if err != nil {
			return nil, fmt.Errorf("audit.stream syslog: %w", err)
		}
		s.w, s.syslog = w, true
	case strings.HasPrefix(dest, "syslog+"):
		u, err := url.Parse(strings.TrimPrefix(dest, "syslog+"))
		if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp" && u.Scheme != "unix") {
			return nil, errs.E(errs.Invalid, "audit.stream %q: use syslog+udp://host:port, syslog+tcp://host:port or syslog+unix:///path", dest)
		}
		addr := u.Host
		if u.Scheme == "unix" {
			addr = u.Path
		}
		w, err := syslog.Dial(u.Scheme, addr, syslog.LOG_AUTH|syslog.LOG_INFO, "lanyard")
		if err != nil {
			return nil, fmt.Errorf("audit.stream %s: %w", dest, err)
		}
		s.w, s.syslog = w, true
	default:
		return nil, errs.E(errs.Invalid, "audit.stream %q: use file:/path, syslog, or syslog+udp|tcp|unix://address", dest)
	}
	return s, nil
}

// Send queues events; it never blocks.
func (s *Stream) Send(evs ...Event) {
	for _, e := range evs {
		select {
		case s.queue <- e:
		default:
			s.dropped.Add(1)
		}
	}
}

// Dropped is how many events were dropped because the destination was behind.
func (s *Stream) Dropped() int64 { return s.dropped.Load() }

// Run writes queued events until ctx ends, then writes what is still queued and closes the
// destination.
func (s *Stream) Run(ctx context.Context) error {
	defer s.w.Close()
	var warned int64
	write := func(e Event) {
		b, err := json.Marshal(e)
		if err != nil {
			return
		}
		if !s.syslog {
			b = append(b, '\n')
		}
		if _, err := s.w.Write(b); err != nil && s.log != nil {
			s.log.Warn("audit stream write failed", "dest", s.dest, "seq", e.Seq, "err", err)
		}
		if d := s.dropped.Load(); d > warned && s.log != nil {
			s.log.Warn("audit stream is behind: events dropped (they are in the store)", "dest", s.dest, "dropped", d)
			warned = d
		}
	}
	for {
		select {
		case e := <-s.queue:
			write(e)
		case <-ctx.Done():
			for {
				select {
				case e := <-s.queue:
					write(e)
				default:
					return nil
				}
			}
		}
	}
}
