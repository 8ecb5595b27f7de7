package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"
)

// Splice is the relay of Azure's names inside a sandbox: it passes each connection an app makes
// to graph.microsoft.com, management.azure.com, login.microsoftonline.com or NAME.vault.azure.net
// (which the sandbox's resolver answers with RelayAddr) on to a Lanyard server, byte for byte.
// The app's TLS ends at the server, which presents the sandbox CA's certificate for those names
// and serves them (AzureNames): the relay reads nothing of what passes, and costs a copy in the
// kernel (Go's io.Copy between TCP connections is splice(2) on Linux).
//
// With several servers (Servers), each connection goes to the first of the agent's choice that
// accepts it; a server that refuses, or does not answer within DialTimeout, is passed over and
// its owner told (Down). A connection already passed on stays with its server: when that server
// stops, the app's connection closes, and the app's client makes a new one (HTTP clients retry a
// request whose reused connection closed before any answer; the SDKs retry the rest), which goes
// to the next server.
type Splice struct {
	// Servers returns the Lanyard servers to try for one connection, in the order to try them:
	// the agent's choice, servers known to answer first.
	Servers func() []Server
	// DialTimeout bounds the making of one connection to a server; 0 means 5 s.
	DialTimeout time.Duration
	Log         *slog.Logger

	// dial opens the connections to a server (tests replace it).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Server is one Lanyard server the relay may pass connections to.
type Server struct {
	URL  string // https://host[:port]: the server's URL
	Addr string // the address to dial, host:port; "" for the URL's host and port
	// Down and Up tell the server's owner (the agent) that the server did not take a connection,
	// or took one; nil: nobody is told.
	Down, Up func()
}

// addr is the address to dial for s.
func (s Server) addr() (string, error) {
	if s.Addr != "" {
		return s.Addr, nil
	}
	u, err := url.Parse(s.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("the sandbox relay needs the server's https URL, not %q", s.URL)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "443"), nil
	}
	return u.Host, nil
}

// halfClosedFor is how long a connection one side of which has ended is kept for the other
// side's last bytes.
const halfClosedFor = 30 * time.Second

// Serve passes the connections ln accepts on, until ln is closed; then it closes the
// connections it is passing.
func (sp *Splice) Serve(ln net.Listener) error {
	log := sp.Log
	if log == nil {
		log = slog.Default()
	}
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			open[c] = struct{}{}
		} else {
			delete(open, c)
		}
	}
	var wg sync.WaitGroup
	defer func() {
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		track(c, true)
		wg.Go(func() {
			defer track(c, false)
			sp.pass(c, log, track)
		})
	}
}

// pass connects c to a server and copies both ways until both have ended.
func (sp *Splice) pass(c net.Conn, log *slog.Logger, track func(net.Conn, bool)) {
	defer c.Close()
	up, err := sp.connect()
	if err != nil {
		log.Warn("sandbox relay: no Lanyard server took the app's connection", slog.Any("error", err))
		return
	}
	track(up, true)
	defer track(up, false)
	defer up.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, c) // the app's bytes
		closeWrite(up)
		_ = c.SetReadDeadline(time.Now().Add(halfClosedFor))
		_ = up.SetReadDeadline(time.Now().Add(halfClosedFor))
	}()
	_, _ = io.Copy(c, up) // the server's
	closeWrite(c)
	_ = c.SetReadDeadline(time.Now().Add(halfClosedFor))
	<-done
}

// connect dials the servers in turn until one takes the connection.
func (sp *Splice) connect() (net.Conn, error) {
	timeout := sp.DialTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	dial := sp.dial
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	servers := sp.Servers()
	if len(servers) == 0 {
		return nil, errors.New("the sandbox relay has no Lanyard server to pass connections to")
	}
	var errs []error
	for _, s := range servers {
		addr, err := s.addr()
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		up, err := dial(ctx, "tcp", addr)
		cancel()
		if err == nil {
			if s.Up != nil {
				s.Up()
			}
			return up, nil
		}
		if s.Down != nil {
			s.Down()
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return nil, errors.Join(errs...)
}

// closeWrite ends c's sending side, so that its peer reads the end of what was sent while the
// other direction goes on; a connection that cannot half-close is closed.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	_ = c.Close()
}
