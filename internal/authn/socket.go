package authn

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// ErrSocketInUse is ListenSocket's error when another process answers on the socket's path.
var ErrSocketInUse = errors.New("the socket is in use")

// ListenSocket listens on a unix socket at path that only its owner may use: the directory is
// created 0700 when missing, the socket is created under umask 0177 (no moment in which others
// could connect) and then set to 0600. A socket file left behind by a process that is gone is
// replaced; one that answers is ErrSocketInUse. Peers are told apart by PeerConnContext.
func ListenSocket(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrSocketInUse)
	}
	_ = os.Remove(path)
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restrict %s to its owner: %w", path, err)
	}
	return ln, nil
}
