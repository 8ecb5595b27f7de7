package sandbox

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Resolver is the sandbox's DNS server. It answers Azure's names (Match) and the names under
// Local with fixed addresses, and passes every other question, as it came, to Upstream: a
// question for an Azure name never leaves the sandbox.
type Resolver struct {
	Relay    netip.Addr   // the address Azure's names resolve to
	Local    []string     // domains (and their sub-domains) that resolve to LocalAddr, e.g. Lanyard's vault domain
	LocalIP  netip.Addr   // default 127.0.0.1
	Upstream []string     // host:port of the resolvers other questions go to (the host's)
	Log      *slog.Logger // default slog.Default()
}

// ttl is the time-to-live of the resolver's own answers.
const ttl = 60

// ServeUDP answers queries on pc until it is closed.
func (r *Resolver) ServeUDP(pc net.PacketConn) error {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		q := append([]byte(nil), buf[:n]...)
		go func() {
			if out := r.answer(q, "udp"); out != nil {
				_, _ = pc.WriteTo(out, from)
			}
		}()
	}
}

// ServeTCP answers queries on ln (two-byte length prefixed) until it is closed.
func (r *Resolver) ServeTCP(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go func() {
			defer c.Close()
			for {
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, q); err != nil {
					return
				}
				out := r.answer(q, "tcp")
				if out == nil {
					return
				}
				if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...)); err != nil {
					return
				}
			}
		}()
	}
}

// answer answers query (a DNS message) itself or through the upstream resolvers; nil drops it.
func (r *Resolver) answer(query []byte, network string) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")
	addr, own := r.own(name)
	if !own {
		return r.forward(query, network)
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: ttl}
	if q.Type == dnsmessage.TypeA && addr.Is4() {
		_ = b.AResource(rh, dnsmessage.AResource{A: addr.As4()})
	}
	// AAAA and every other type: no data (NOERROR), so clients use the A record.
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// own says whether name is answered here, and with which address.
func (r *Resolver) own(name string) (netip.Addr, bool) {
	if api, _ := Match(name); api != NotAzure {
		return r.Relay, true
	}
	for _, d := range r.Local {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if d != "" && (name == d || strings.HasSuffix(name, "."+d)) {
			if r.LocalIP.IsValid() {
				return r.LocalIP, true
			}
			return netip.AddrFrom4([4]byte{127, 0, 0, 1}), true
		}
	}
	return netip.Addr{}, false
}

// forward asks the upstream resolvers in turn and returns the first answer.
func (r *Resolver) forward(query []byte, network string) []byte {
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	for _, up := range r.Upstream {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		out, err := exchange(ctx, network, up, query)
		cancel()
		if err == nil {
			return out
		}
		log.Debug("sandbox resolver: an upstream resolver failed", slog.String("upstream", up), slog.Any("error", err))
	}
	return nil
}

func exchange(ctx context.Context, network, addr string, query []byte) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if network == "udp" {
		if _, err := c.Write(query); err != nil {
			return nil, err
		}
		buf := make([]byte, 65535)
		n, err := c.Read(buf)
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(query))), query...)); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	out := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err = io.ReadFull(c, out)
	return out, err
}

// HostResolvers reads the nameservers of a resolv.conf (the host's), as host:53.
func HostResolvers(resolvConf []byte) []string {
	var out []string
	for _, line := range strings.Split(string(resolvConf), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if ip, err := netip.ParseAddr(f[1]); err == nil {
				out = append(out, netip.AddrPortFrom(ip, 53).String())
			}
		}
	}
	return out
}
