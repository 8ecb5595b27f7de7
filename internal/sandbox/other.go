//go:build !linux

package sandbox

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
)

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
func Command(*Netns, []Bind, []string) (*exec.Cmd, error)    { return nil, errNotLinux }
func Init()                                                  {}
