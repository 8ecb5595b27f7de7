package backend

import (
	"syscall"
	"unsafe"
)

// alive reports whether an idle connection is still open and quiet: a peek that does not wait
// finds nothing to read. The app may have closed it (Node closes idle connections after 5 s),
// or written something unasked, and then it cannot carry a request. A connection without a
// file descriptor is taken as alive (a failed request is then retried when that is safe).
func (c *conn) alive() bool {
	if c.raw == nil {
		return true
	}
	var b [1]byte
	ok := false
	err := c.raw.Read(func(fd uintptr) bool {
		// recvfrom directly: syscall.Recvfrom would allocate a sockaddr for every call
		// (nothing to read: EAGAIN; 0 bytes: the app closed it; 1 byte: unasked data)
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		ok = errno == syscall.EAGAIN || errno == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && ok
}
