package sandbox

import (
	"bytes"
	"io"
	"sync"
)

// mapper replaces URL prefixes (Lanyard's, each starting with https://) with others (Azure's)
// in one pass over the bytes. A prefix is replaced only where it ends at a delimiter (delim):
// https://kv.vault.lanyard.test is not the start of https://kv.vault.lanyard.testing/.
type mapper struct {
	old, new [][]byte
	maxOld   int
}

var httpsPrefix = []byte("https://")

// newMapper returns the mapping of each pair's first URL prefix to its second. Every first one
// starts with https://.
func newMapper(pairs [][2]string) *mapper {
	m := &mapper{}
	for _, p := range pairs {
		m.old = append(m.old, []byte(p[0]))
		m.new = append(m.new, []byte(p[1]))
		m.maxOld = max(m.maxOld, len(p[0]))
	}
	return m
}

// match returns the index of the pair whose old prefix b starts with, followed by a delimiter or
// the end of b, or -1. The end of b is the end of the input: a streaming caller passes a b that
// goes at least one byte past any prefix (mapSome).
func (m *mapper) match(b []byte) int {
	for i, o := range m.old {
		if bytes.HasPrefix(b, o) && (len(b) == len(o) || delim(b[len(o)])) {
			return i
		}
	}
	return -1
}

// delim reports whether c may follow a URL prefix that is mapped: the start of a path, query or
// fragment, the end of a JSON string (or an escape in one), a separator or white space. Anything
// else would make the prefix part of another host name or port (https://a.test:8443 in
// https://a.test:84430, https://a.test in https://a.testing).
func delim(c byte) bool {
	switch c {
	case '/', '"', '?', '#', '\\', ',', '\'', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// first returns where the first prefix to replace in b starts, or -1.
func (m *mapper) first(b []byte) int {
	for k := 0; k < len(b); {
		j := bytes.Index(b[k:], httpsPrefix)
		if j < 0 {
			return -1
		}
		if m.match(b[k+j:]) >= 0 {
			return k + j
		}
		k += j + 1
	}
	return -1
}

// mapAll appends src, its prefixes replaced, to dst.
func (m *mapper) mapAll(dst, src []byte) []byte {
	dst, _ = m.mapSome(dst, src, true)
	return dst
}

// mapSome appends src, its prefixes replaced, to dst, and returns how much of src it consumed:
// all of it when final, else all but a tail that may hold the start of a prefix and the byte
// after it (the caller passes it again with what follows).
func (m *mapper) mapSome(dst, src []byte, final bool) ([]byte, int) {
	limit := len(src) // a prefix starting before limit lies whole in src, with the byte after it
	if !final {
		limit = max(0, len(src)-m.maxOld)
	}
	done, k := 0, 0
	for k < limit {
		j := bytes.Index(src[k:], httpsPrefix)
		if j < 0 || k+j >= limit {
			break
		}
		p := k + j
		if i := m.match(src[p:]); i >= 0 {
			dst = append(dst, src[done:p]...)
			dst = append(dst, m.new[i]...)
			done = p + len(m.old[i])
			k = done
			continue
		}
		k = p + 1
	}
	end := max(limit, done)
	dst = append(dst, src[done:end]...)
	return dst, end
}

// mapReader maps an answer's prefixes as it streams.
type mapReader struct {
	rc      io.ReadCloser
	m       *mapper
	in, out *buffer
	pending []byte // mapped, not yet read
	eof     bool
	err     error
}

const streamChunk = 32 << 10

func (r *mapReader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.in == nil {
			r.in, r.out = getBuffer(streamChunk+r.m.maxOld), getBuffer(streamChunk+streamChunk/4)
			r.in.b = r.in.b[:0]
		}
		if !r.eof {
			n, err := r.rc.Read(r.in.b[len(r.in.b):cap(r.in.b)])
			r.in.b = r.in.b[:len(r.in.b)+n]
			if err == io.EOF {
				r.eof = true
			} else if err != nil {
				r.err = err
			}
			if n == 0 && !r.eof && r.err == nil {
				continue
			}
		}
		var used int
		r.out.b, used = r.m.mapSome(r.out.b[:0], r.in.b, r.eof || r.err != nil)
		r.pending = r.out.b
		rest := copy(r.in.b, r.in.b[used:])
		r.in.b = r.in.b[:rest]
		if r.eof && len(r.in.b) == 0 && len(r.pending) == 0 {
			r.err = io.EOF
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

func (r *mapReader) Close() error {
	err := r.rc.Close()
	if r.in != nil {
		putBuffer(r.in)
		putBuffer(r.out)
		r.in, r.out, r.pending = nil, nil, nil
		r.err = io.ErrClosedPipe
	}
	return err
}

// buffer is a reusable byte slice.
type buffer struct{ b []byte }

var buffers sync.Pool

// getBuffer returns a buffer of length n, from the pool when one there is large enough.
func getBuffer(n int) *buffer {
	if b, ok := buffers.Get().(*buffer); ok {
		if cap(b.b) >= n {
			b.b = b.b[:n]
			return b
		}
		buffers.Put(b)
	}
	return &buffer{b: make([]byte, n, max(n, 4<<10))}
}

// putBuffer returns b to the pool (a very large one is left to the collector).
func putBuffer(b *buffer) {
	if cap(b.b) <= 2*maxBuffered {
		buffers.Put(b)
	}
}

// bufferBody is an answer read whole into a pooled buffer.
type bufferBody struct {
	buf *buffer
	b   []byte
}

func (b *bufferBody) Read(p []byte) (int, error) {
	if len(b.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.b)
	b.b = b.b[n:]
	return n, nil
}

func (b *bufferBody) Close() error {
	if b.buf != nil {
		putBuffer(b.buf)
		b.buf, b.b = nil, nil
	}
	return nil
}

// copyBuffers are the proxy's buffers for copying answers (httputil.BufferPool).
var copyBuffers = copyPool{}

type copyPool struct{}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (copyPool) Get() []byte  { return *copyBufs.Get().(*[]byte) }
func (copyPool) Put(b []byte) { copyBufs.Put(&b) }
