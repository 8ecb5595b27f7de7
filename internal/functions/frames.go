package functions

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanyardhq/lanyard/internal/jsonx"
)

// The framed protocol (Lanyard's own, doc.go): how the host reaches Lanyard's Node worker
// instead of the custom-handler HTTP exchange of §3.2, which plain custom handlers keep. Each
// message is a 4-byte big-endian length and a JSON document, on a unix socket of the worker's.
// A request is {"id","name","invocationId","body"}, body being the {Data, Metadata} document
// the HTTP POST carries; the answer is {"id","status","body"}, status and body being the HTTP
// answer's. It spares the HTTP machinery on both sides of every invocation (an HTTP client here,
// Node's http server there).
//
// The host keeps frameConns connections to the worker and pipelines on them: each invocation
// writes its request whole on one of them (in turn) and waits for its answer, which the
// connection's reader goroutine hands over by id. In BenchmarkNodeChainRatio's v3 chain, this
// was 1.07–1.12× as fast as a connection per invocation in flight written and read in the
// invoking goroutine (five same-run comparisons, with one, two and four connections alike): one
// read takes several answers, and the worker has fewer sockets to serve.
//
// An invocation given up on (functionTimeout, the client gone) forgets its id, and its late
// answer is read and dropped; the connection goes on. A connection ends, failing every
// invocation waiting on it, when the worker closes it or exits, on an answer that breaks the
// protocol, and when a request could not be written whole (its invocation ended while the
// worker was not reading); the next invocation makes a new one.

// workerSocket is the unix socket on which Lanyard's Node worker takes its frames, in the host's
// private directory of the worker (mode 0700: only the host's user can connect).
type workerSocket struct {
	path string
	// dir is path's directory when path is too long for a socket address (maxSocketPath): then
	// the worker inherits it and both sides name the socket /proc/self/fd/N/NAME (Linux only).
	dir *os.File
}

// maxSocketPath is the room for a unix socket's path (sockaddr_un's sun_path: 108 bytes on
// Linux, 104 on the BSDs, with the terminating NUL).
const maxSocketPath = 104

// newWorkerSocket returns the socket at path, or nil when it cannot be named (a path too long
// anywhere but on Linux): the worker is then reached over HTTP, as a custom handler.
func newWorkerSocket(path string) (*workerSocket, error) {
	if len(path) < maxSocketPath {
		return &workerSocket{path: path}, nil
	}
	if runtime.GOOS != "linux" {
		return nil, nil
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	return &workerSocket{path: path, dir: dir}, nil
}

// addTo gives the socket to the worker's command: LANYARD_WORKER_SOCKET, and the directory.
func (s *workerSocket) addTo(cmd *exec.Cmd) {
	name := s.path
	if s.dir != nil {
		name = fmt.Sprintf("/proc/self/fd/%d/%s", 3+len(cmd.ExtraFiles), filepath.Base(s.path))
		cmd.ExtraFiles = append(cmd.ExtraFiles, s.dir)
	}
	cmd.Env = append(cmd.Env, "LANYARD_WORKER_SOCKET="+name)
}

// dialPath is the name by which the host connects.
func (s *workerSocket) dialPath() string {
	if s.dir != nil {
		return fmt.Sprintf("/proc/self/fd/%d/%s", s.dir.Fd(), filepath.Base(s.path))
	}
	return s.path
}

func (s *workerSocket) close() {
	if s != nil && s.dir != nil {
		_ = s.dir.Close()
	}
}

// maxFrame bounds a frame either way (Lanyard's own; the worker's MAX_FRAME is the same). It is
// over the default request body limit (100 MiB) in base64 with the rest of the document.
const maxFrame = 256 << 20

// frameConns is the number of connections to the worker. One would do for the throughput; two
// keep a large request or answer from holding up all the others.
const frameConns = 2

// errFrame is a frame that breaks the protocol; the connection is closed.
var errFrame = errors.New("the worker's answer is not a frame of the protocol")

// framePool is the host's connections to one run of the worker.
type framePool struct {
	path  string // the worker's socket
	next  atomic.Uint32
	dials atomic.Int64 // for tests

	mu     sync.Mutex
	conns  [frameConns]*frameConn
	closed bool
}

// frameConn is one connection with the invocations waiting on it.
type frameConn struct {
	nc  net.Conn
	wr  chan struct{} // held while a request is written
	bad chan struct{} // closed when the connection ended

	mu      sync.Mutex
	seq     uint64 // the last request's id
	waiting map[uint64]chan frameAnswer
	err     error // why the connection ended
}

type frameAnswer struct {
	status int
	body   []byte
}

func newFramePool(path string) *framePool { return &framePool{path: path} }

// invoke sends the invocation document doc of function name and returns the answer's status
// and body. When the worker cannot be reached (it is gone), the dial's error is returned and
// nothing was sent.
func (fp *framePool) invoke(ctx context.Context, name, invocationID string, doc []byte) (int, []byte, error) {
	c, err := fp.conn(ctx)
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan frameAnswer, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return 0, nil, err
	}
	c.seq++
	id := c.seq
	c.waiting[id] = ch
	c.mu.Unlock()
	defer c.forget(id)
	head := append(make([]byte, 4, 128), `{"id":`...)
	head = strconv.AppendUint(head, id, 10)
	head = append(head, `,"name":`...)
	head = jsonx.AppendString(head, name)
	head = append(head, `,"invocationId":`...)
	head = jsonx.AppendString(head, invocationID)
	head = append(head, `,"body":`...)
	n := len(head) - 4 + len(doc) + 1
	if n > maxFrame {
		return 0, nil, fmt.Errorf("the invocation is over the worker protocol's limit of %d bytes", maxFrame)
	}
	binary.BigEndian.PutUint32(head, uint32(n))
	if err := c.write(ctx, net.Buffers{head, doc, []byte("}")}); err != nil {
		return 0, nil, err
	}
	select {
	case a := <-ch:
		return a.status, a.body, nil
	case <-c.bad:
		select {
		case a := <-ch: // handed over just before the connection ended
			return a.status, a.body, nil
		default:
			return 0, nil, c.ended()
		}
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
}

// conn takes the next connection in turn, making it if it is missing or ended (under the lock:
// a unix socket's connect is quick, and the invocations that would wait meanwhile need it).
func (fp *framePool) conn(ctx context.Context) (*frameConn, error) {
	i := fp.next.Add(1) % frameConns
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if c := fp.conns[i]; c != nil && c.ended() == nil {
		return c, nil
	}
	if fp.closed {
		return nil, net.ErrClosed
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", fp.path)
	if err != nil {
		return nil, err
	}
	fp.dials.Add(1)
	c := &frameConn{nc: nc, wr: make(chan struct{}, 1), bad: make(chan struct{}), waiting: map[uint64]chan frameAnswer{}}
	fp.conns[i] = c
	go c.read()
	return c, nil
}

// close ends the connections; the invocations waiting on them fail.
func (fp *framePool) close() {
	fp.mu.Lock()
	fp.closed = true
	conns := fp.conns
	fp.mu.Unlock()
	for _, c := range conns {
		if c != nil {
			c.end(net.ErrClosed)
		}
	}
}

// write sends one request whole. When ctx ends while it waits to write, nothing was sent; when
// it ends during the write, the connection ends (the rest of the stream would be unreadable).
func (c *frameConn) write(ctx context.Context, bufs net.Buffers) error {
	select {
	case c.wr <- struct{}{}:
	case <-c.bad:
		return c.ended()
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.wr }()
	var mu sync.Mutex
	writing := true
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if writing {
			_ = c.nc.SetWriteDeadline(aLongTimeAgo)
		}
	})
	_, err := bufs.WriteTo(c.nc)
	if !stop() { // the context ended: its deadline may be set, and must not stay
		mu.Lock()
		writing = false
		mu.Unlock()
		_ = c.nc.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		c.end(err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return err
}

// read hands each answer to the invocation waiting for its id, until the connection ends.
func (c *frameConn) read() {
	br := bufio.NewReaderSize(c.nc, 16<<10)
	for {
		id, a, err := readAnswer(br)
		if err != nil {
			c.end(err)
			return
		}
		c.mu.Lock()
		ch := c.waiting[id] // none: its invocation ended
		delete(c.waiting, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- a
		}
	}
}

// readAnswer reads one answer frame.
func readAnswer(br *bufio.Reader) (uint64, frameAnswer, error) {
	var hd [4]byte
	if _, err := io.ReadFull(br, hd[:]); err != nil {
		return 0, frameAnswer{}, err
	}
	size := binary.BigEndian.Uint32(hd[:])
	if size > maxFrame {
		return 0, frameAnswer{}, fmt.Errorf("%w: %d bytes, over the limit of %d", errFrame, size, maxFrame)
	}
	// Read as the bytes come (not allocated at once from the length the worker claims).
	var raw []byte
	var err error
	if size <= 64<<10 {
		raw = make([]byte, size)
		_, err = io.ReadFull(br, raw)
	} else if raw, err = io.ReadAll(io.LimitReader(br, int64(size))); err == nil && len(raw) < int(size) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return 0, frameAnswer{}, err
	}
	var ans struct {
		ID     uint64          `json:"id"`
		Status int             `json:"status"`
		Body   json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return 0, frameAnswer{}, fmt.Errorf("%w: not JSON", errFrame)
	}
	if ans.Status < 100 || ans.Status > 999 {
		return 0, frameAnswer{}, fmt.Errorf("%w: status %d", errFrame, ans.Status)
	}
	return ans.ID, frameAnswer{ans.Status, ans.Body}, nil
}

// forget drops an invocation's id: its answer, if it comes, is dropped.
func (c *frameConn) forget(id uint64) {
	c.mu.Lock()
	delete(c.waiting, id)
	c.mu.Unlock()
}

// end closes the connection for err (the first reason stays); the invocations waiting on it
// see bad closed.
func (c *frameConn) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	_ = c.nc.Close()
	close(c.bad)
}

// ended returns why the connection ended, or nil.
func (c *frameConn) ended() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// aLongTimeAgo is a deadline that has passed: setting it makes blocked reads and writes fail.
var aLongTimeAgo = time.Unix(1, 0)
