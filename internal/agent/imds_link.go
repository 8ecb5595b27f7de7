package agent

import (
	"net"
	"net/netip"
)

// dummyLink is the interface the agent puts a link-local IMDS address on.
const dummyLink = "lanyard0"

// linkCommands are the `ip` commands that put addr on the dummy interface (creating the
// interface when create) and those that undo it, in order.
func linkCommands(addr netip.Addr, create bool) (up, down [][]string) {
	prefix := addr.String() + "/32"
	if create {
		up = append(up, []string{"ip", "link", "add", dummyLink, "type", "dummy"})
	}
	up = append(up,
		[]string{"ip", "addr", "add", prefix, "dev", dummyLink},
		[]string{"ip", "link", "set", dummyLink, "up"})
	if create {
		down = [][]string{{"ip", "link", "del", dummyLink}}
	} else {
		down = [][]string{{"ip", "addr", "del", prefix, "dev", dummyLink}}
	}
	return up, down
}

// loopbackCommands put addr on the loopback interface instead, where the kernel has no dummy
// interfaces (a container's or sandbox's kernel without the dummy module), and take it away.
func loopbackCommands(addr netip.Addr) (up, down [][]string) {
	prefix := addr.String() + "/32"
	return [][]string{{"ip", "addr", "add", prefix, "dev", "lo"}}, [][]string{{"ip", "addr", "del", prefix, "dev", "lo"}}
}

// needsLink reports whether listening on hostport needs the address put on an interface first:
// it is link-local and no interface has it yet.
func needsLink(hostport string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil || !ap.Addr().Is4() || !ap.Addr().IsLinkLocalUnicast() {
		return netip.Addr{}, false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ap.Addr(), true
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == ap.Addr() {
			return ap.Addr(), false
		}
	}
	return ap.Addr(), true
}

// linkExists reports whether the dummy interface exists.
func linkExists() bool {
	_, err := net.InterfaceByName(dummyLink)
	return err == nil
}
