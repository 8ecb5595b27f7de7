package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The addresses inside a sandbox (on its loopback interface): IMDS's, where the agent answers
// for the app's identities, and the relay's, which Azure's names resolve to and where the
// resolver listens.
var (
	IMDSAddr  = netip.AddrFrom4([4]byte{169, 254, 169, 254})
	RelayAddr = netip.AddrFrom4([4]byte{169, 254, 169, 253})
)

// Netns is a network namespace made for one app, named under /run/netns (as `ip netns` names
// them) so that iproute2 and pasta can find it.
type Netns struct {
	Name string
	Path string
}

// Check says what this host lacks for sandboxes ("" when nothing): root (CAP_SYS_ADMIN and
// CAP_NET_ADMIN to make namespaces) and iproute2's ip.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("sandboxes need root (CAP_SYS_ADMIN and CAP_NET_ADMIN, to make network and mount namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("sandboxes need iproute2's ip (apt-get install iproute2)")
	}
	return nil
}

// NetnsName is the namespace name of the app key (a site's id): short and stable.
func NetnsName(key string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(key)))
	return "lanyard-" + hex.EncodeToString(sum[:6])
}

// NewNetns makes the namespace name (replacing a stale one of that name), with its loopback
// interface up and the sandbox's addresses on it.
func NewNetns(ctx context.Context, name string) (*Netns, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	n := &Netns{Name: name, Path: filepath.Join("/run/netns", name)}
	_ = n.Remove(ctx)
	steps := [][]string{
		{"netns", "add", name},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "addr", "add", IMDSAddr.String() + "/32", "dev", "lo"},
		{"-n", name, "addr", "add", RelayAddr.String() + "/32", "dev", "lo"},
	}
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, "ip", s...).CombinedOutput(); err != nil {
			_ = n.Remove(ctx)
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return n, nil
}

// Remove deletes the namespace; the listeners in it go when they are closed.
func (n *Netns) Remove(ctx context.Context) error {
	if _, err := os.Stat(n.Path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", n.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Do runs f on a thread that is in the namespace, and returns that thread to the agent's own
// namespace after. Sockets f makes belong to the namespace for their whole life.
func (n *Netns) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- n.do(f)
	}()
	return <-errc
}

// do switches the locked calling thread into the namespace and back. If it cannot switch back,
// the thread stays locked, and so dies with its goroutine instead of serving other goroutines.
func (n *Netns) do(f func() error) error {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer self.Close()
	target, err := os.Open(n.Path)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering the network namespace %s: %w", n.Name, err)
	}
	ferr := f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		return errors.Join(ferr, fmt.Errorf("leaving the network namespace %s: %w", n.Name, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Listen opens a TCP listener at addr inside the namespace.
func (n *Netns) Listen(addr string) (ln net.Listener, err error) {
	err = n.Do(func() error {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// Dial connects to addr from inside the namespace.
func (n *Netns) Dial(ctx context.Context, network, addr string) (c net.Conn, err error) {
	err = n.Do(func() error {
		c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// ListenPacket opens a UDP socket at addr inside the namespace.
func (n *Netns) ListenPacket(addr string) (pc net.PacketConn, err error) {
	err = n.Do(func() error {
		pc, err = net.ListenPacket("udp", addr)
		return err
	})
	return pc, err
}
