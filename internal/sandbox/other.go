//go:build !linux

package sandbox

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
)

// Sandboxes need Linux namespaces: elsewhere these stand in, and every one of them fails with
// errNotLinux (Check says so first).

var (
	IMDSAddr  = netip.AddrFrom4([4]byte{169, 254, 169, 254})
	RelayAddr = netip.AddrFrom4([4]byte{169, 254, 169, 253})
)

var errNotLinux = errors.New("sandboxes need Linux namespaces")

type Netns struct{ Name, Path string }
type Bind struct{ Src, Dst string }

func Check() error                                           { return errNotLinux }
func NetnsName(key string) string                            { return "" }
func NewNetns(context.Context, string) (*Netns, error)       { return nil, errNotLinux }
func (n *Netns) Remove(context.Context) error                { return nil }
func (n *Netns) Listen(string) (net.Listener, error)         { return nil, errNotLinux }
func (n *Netns) ListenPacket(string) (net.PacketConn, error) { return nil, errNotLinux }
func (n *Netns) Dial(context.Context, string, string) (net.Conn, error) {
	return nil, errNotLinux
}
func Command(*Netns, []Bind, []string) (*exec.Cmd, error) { return nil, errNotLinux }
func Init()                                               {}

func (n *Netns) Do(func() error) error { return errNotLinux }

var SystemTrustStores = []string{"/etc/ssl/cert.pem"}

type Options struct {
	Key      string
	Dir      string
	Identity http.Handler
	Relay    *Splice
	Resolver Resolver
	Bundle   []byte
	Exclude  map[int]bool
	Log      *slog.Logger
}

type Sandbox struct{ Netns *Netns }

func Open(context.Context, Options) (*Sandbox, error)  { return nil, errNotLinux }
func (s *Sandbox) Command([]string) (*exec.Cmd, error) { return nil, errNotLinux }
func (s *Sandbox) Binds() []Bind                       { return nil }
func (s *Sandbox) Close() error                        { return nil }
