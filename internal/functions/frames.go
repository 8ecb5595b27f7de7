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
	"strconv"
	"sync"
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
// A connection carries one invocation at a time, written and read in the invoking goroutine (as
// package backend does for HTTP), and goes back to the pool after its answer; an invocation
// that ends before its answer (functionTimeout, the client gone) closes its connection, so that
// a late answer is never read as another's.

// maxFrame bounds a frame either way (Lanyard's own; the worker's MAX_FRAME is the same). It is
// over the default request body limit (100 MiB) in base64 with the rest of the document.
const maxFrame = 256 << 20

// maxIdleFrames bounds the idle connections kept (as many as invocations were once in flight,
// up to this).
const maxIdleFrames = 64

// errFrame is a frame that breaks the protocol; the connection is closed.
var errFrame = errors.New("the worker's answer is not a frame of the protocol")

// framePool is the host's connections to one run of the worker.
type framePool struct {
	path string // the worker's socket

	mu     sync.Mutex
	idle   []*frameConn
	closed bool
}

type frameConn struct {
	nc  net.Conn
	br  *bufio.Reader
	seq uint64 // the last request's id
}

func newFramePool(path string) *framePool { return &framePool{path: path} }

// invoke sends the invocation document doc of function name and returns the answer's status
// and body. When the worker cannot be reached (it is gone), the dial's error is returned and
// nothing was sent.
func (fp *framePool) invoke(ctx context.Context, name, invocationID string, doc []byte) (int, []byte, error) {
	c, err := fp.get(ctx)
	if err != nil {
		return 0, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(aLongTimeAgo) })
	status, body, err := c.roundTrip(name, invocationID, doc)
	// stop is false when the context ended: the connection's deadline is (or is about to be)
	// in the past, and an answer not read would come late on it.
	if !stop() || err != nil {
		_ = c.nc.Close()
		if err != nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		return status, body, err
	}
	fp.put(c)
	return status, body, nil
}

// roundTrip writes one request frame and reads its answer.
func (c *frameConn) roundTrip(name, invocationID string, doc []byte) (int, []byte, error) {
	c.seq++
	head := append(make([]byte, 4, 128), `{"id":`...)
	head = strconv.AppendUint(head, c.seq, 10)
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
	bufs := net.Buffers{head, doc, []byte("}")}
	if _, err := bufs.WriteTo(c.nc); err != nil {
		return 0, nil, err
	}
	var hd [4]byte
	if _, err := io.ReadFull(c.br, hd[:]); err != nil {
		return 0, nil, err
	}
	size := binary.BigEndian.Uint32(hd[:])
	if size > maxFrame {
		return 0, nil, fmt.Errorf("%w: %d bytes, over the limit of %d", errFrame, size, maxFrame)
	}
	// Read as the bytes come (not allocated at once from the length the worker claims).
	var raw []byte
	var err error
	if size <= 64<<10 {
		raw = make([]byte, size)
		_, err = io.ReadFull(c.br, raw)
	} else if raw, err = io.ReadAll(io.LimitReader(c.br, int64(size))); err == nil && len(raw) < int(size) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return 0, nil, err
	}
	var ans struct {
		ID     uint64          `json:"id"`
		Status int             `json:"status"`
		Body   json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return 0, nil, fmt.Errorf("%w: not JSON", errFrame)
	}
	if ans.ID != c.seq || ans.Status < 100 || ans.Status > 999 {
		return 0, nil, fmt.Errorf("%w: id %d (want %d), status %d", errFrame, ans.ID, c.seq, ans.Status)
	}
	return ans.Status, ans.Body, nil
}

// get takes the newest idle connection, or makes one.
func (fp *framePool) get(ctx context.Context) (*frameConn, error) {
	fp.mu.Lock()
	if n := len(fp.idle); n > 0 {
		c := fp.idle[n-1]
		fp.idle[n-1] = nil
		fp.idle = fp.idle[:n-1]
		fp.mu.Unlock()
		return c, nil
	}
	fp.mu.Unlock()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", fp.path)
	if err != nil {
		return nil, err
	}
	return &frameConn{nc: nc, br: bufio.NewReaderSize(nc, 4<<10)}, nil
}

// put keeps c for the next invocation, or closes it when the pool is full or closed.
func (fp *framePool) put(c *frameConn) {
	fp.mu.Lock()
	if fp.closed || len(fp.idle) >= maxIdleFrames || c.br.Buffered() > 0 {
		fp.mu.Unlock()
		_ = c.nc.Close()
		return
	}
	fp.idle = append(fp.idle, c)
	fp.mu.Unlock()
}

// close closes the idle connections; those in use are closed when their invocations end.
func (fp *framePool) close() {
	fp.mu.Lock()
	idle := fp.idle
	fp.idle, fp.closed = nil, true
	fp.mu.Unlock()
	for _, c := range idle {
		_ = c.nc.Close()
	}
}

// aLongTimeAgo is a deadline that has passed: setting it makes blocked reads and writes fail.
var aLongTimeAgo = time.Unix(1, 0)
