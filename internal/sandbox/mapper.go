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

// mapWriter maps what is written to it as it streams: it holds back a tail that may be the start
// of a prefix until what follows it is written, or until Close.
type mapWriter struct {
	w         io.Writer
	m         *mapper
	tail, out *buffer
}

const streamChunk = 32 << 10

func (mw *mapWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), streamChunk)
		if err := mw.write(p[:k], false); err != nil {
			return n - len(p), err
		}
		p = p[k:]
	}
	return n, nil
}

// Close maps and writes the tail held back; it does not close w.
func (mw *mapWriter) Close() error {
	if mw.tail == nil {
		return nil
	}
	err := mw.write(nil, true)
	putBuffer(mw.tail)
	putBuffer(mw.out)
	mw.tail, mw.out = nil, nil
	return err
}

func (mw *mapWriter) write(p []byte, final bool) error {
	if mw.tail == nil {
		mw.tail, mw.out = getBuffer(0), getBuffer(0)
	}
	mw.tail.b = append(mw.tail.b, p...)
	var used int
	mw.out.b, used = mw.m.mapSome(mw.out.b[:0], mw.tail.b, final)
	mw.tail.b = mw.tail.b[:copy(mw.tail.b, mw.tail.b[used:])]
	if len(mw.out.b) == 0 {
		return nil
	}
	_, err := mw.w.Write(mw.out.b)
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
