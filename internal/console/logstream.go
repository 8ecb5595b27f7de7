package console

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// Log stream: an app's output, live, as server-sent events. The agent writes each app's stdout
// and stderr to a file in its state directory and rotates it (one old file, NAME.log.1). Every
// event carries the position after its line as its id, "{inode}:{offset}", and the browser sends
// the last one back when it reconnects (Last-Event-ID): the stream resumes right after the last
// line the page got, so nothing is lost or repeated, also when the file was rotated meanwhile.
//
// Only the agent on the console's own host is read (lanyard dev); with several nodes, an app on
// another node says so (docs/console.md).

// pollInterval is how often the stream looks for new lines.
const pollInterval = 150 * time.Millisecond

// DefaultStreamMax is how long one event stream stays open before the server ends it and the
// browser reconnects (resuming where it was).
const DefaultStreamMax = 5 * time.Minute

func (c *Console) logStream(w http.ResponseWriter, r *http.Request, s *current) error {
	site, _, err := c.getSite(r.Context(), c.api(s), r)
	if err != nil {
		return err
	}
	_, local := c.appLog(site.Name)
	return c.render(w, r, "logstream.html", &page{Title: site.Name + " | Log stream", Nav: kindKey(site.Kind), Crumb: siteCrumb(site),
		Data: map[string]any{"Site": site, "Group": groupOf(site.ID), "Local": local}})
}

// logSource is where the Log stream reads apps' output.
type logSource struct {
	path      func(site string) (string, bool)
	streamMax time.Duration
}

// SetAppLogs tells the Log stream where the agent on this host keeps an app's output (path
// returns the file, and whether this host runs the app), and how long one event stream stays
// open before the browser reconnects (DefaultStreamMax when 0). Safe to call while serving.
func (c *Console) SetAppLogs(path func(site string) (string, bool), streamMax time.Duration) {
	c.logs.Store(&logSource{path: path, streamMax: streamMax})
}

func (c *Console) appLog(name string) (string, bool) {
	src := c.logs.Load()
	if src == nil || src.path == nil {
		return "", false
	}
	return src.path(name)
}

// position is where a stream is in an app's log: a file (by inode) and an offset in it.
type position struct {
	ino uint64
	off int64
}

func (p position) String() string {
	return strconv.FormatUint(p.ino, 10) + ":" + strconv.FormatInt(p.off, 10)
}

func parsePosition(s string) (position, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return position{}, false
	}
	ino, err1 := strconv.ParseUint(a, 10, 64)
	off, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || off < 0 {
		return position{}, false
	}
	return position{ino, off}, true
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// tailLines is how many lines of the existing log a new stream starts with.
const tailLines = 100

func (c *Console) logEvents(w http.ResponseWriter, r *http.Request, s *current) error {
	site, _, err := c.getSite(r.Context(), c.api(s), r) // the session may read this site
	if err != nil {
		return err
	}
	path, ok := c.appLog(site.Name)
	if !ok {
		return errs.E(errs.NotFound, "this app's output is not on this host")
	}
	rc := http.NewResponseController(w) // reaches the connection through the middleware's writer
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 250\n\n")
	if err := rc.Flush(); err != nil {
		return nil
	}

	pos, resumed := parsePosition(r.Header.Get("Last-Event-ID"))
	if !resumed {
		pos = startPosition(path)
	}
	max := DefaultStreamMax
	if src := c.logs.Load(); src != nil && src.streamMax > 0 {
		max = src.streamMax
	}
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		var err error
		if pos, err = c.sendNew(w, path, pos); err != nil {
			return nil // the client is gone, or the file cannot be read: end the stream
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-deadline.C:
			return nil
		case <-tick.C:
		}
	}
}

// startPosition is where a new stream starts: the last tailLines lines of the current file.
func startPosition(path string) position {
	f, err := os.Open(path)
	if err != nil {
		return position{}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return position{}
	}
	size := fi.Size()
	const window = 64 << 10
	from := max(0, size-window)
	buf := make([]byte, size-from)
	if _, err := f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return position{ino: inode(fi)}
	}
	// Only complete lines: start after the (tailLines+1)-th newline from the end.
	n, cut := 0, int64(-1)
	end := len(buf)
	if end > 0 && buf[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if buf[i] == '\n' {
			n++
			if n == tailLines {
				cut = from + int64(i) + 1
				break
			}
		}
	}
	if cut < 0 {
		cut = from
		if from > 0 { // inside a line: skip to the next one
			if i := strings.IndexByte(string(buf), '\n'); i >= 0 {
				cut = from + int64(i) + 1
			}
		}
	}
	return position{ino: inode(fi), off: cut}
}

// sendNew writes the complete lines after pos as events and returns the new position. When the
// file at pos was rotated away, the rest of it is read from path+".1" first.
func (c *Console) sendNew(w io.Writer, path string, pos position) (position, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return pos, nil // the app has not written yet
		}
		return pos, err
	}
	if pos.ino != 0 && inode(fi) != pos.ino {
		// Rotated: finish the old file (now .1) if it is the one we were reading.
		if old, err := os.Stat(path + ".1"); err == nil && inode(old) == pos.ino {
			if _, err := sendLines(w, path+".1", pos, true); err != nil {
				return pos, err
			}
		}
		pos = position{ino: inode(fi)}
	}
	if pos.ino == 0 {
		pos.ino = inode(fi)
	}
	if fi.Size() < pos.off { // truncated in place
		pos.off = 0
	}
	return sendLines(w, path, pos, false)
}

// sendLines sends every complete line of the file after pos.off (and, when all is set, a last
// line without its newline too: the file will not grow any more).
func sendLines(w io.Writer, path string, pos position, all bool) (position, error) {
	f, err := os.Open(path)
	if err != nil {
		return pos, err
	}
	defer f.Close()
	if _, err := f.Seek(pos.off, io.SeekStart); err != nil {
		return pos, err
	}
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := br.ReadString('\n')
		complete := strings.HasSuffix(line, "\n")
		if line != "" && (complete || all) {
			pos.off += int64(len(line))
			text := strings.TrimRight(line, "\r\n")
			if _, werr := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", pos, strings.ReplaceAll(text, "\r", "")); werr != nil {
				return pos, werr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return pos, nil
			}
			return pos, err
		}
	}
}
