package sandbox

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Loopback makes the host's loopback TCP services reachable from inside a sandbox at the same
// address (127.0.0.1:PORT): every second it reads the host's listening sockets and, for each
// port on 127.0.0.1 or any address, listens on 127.0.0.1:PORT in the namespace and relays
// connections to the host's. The ports in Exclude (the agent's own endpoints: the node's
// identity is not the app's) are never relayed.
type Loopback struct {
	Netns   *Netns
	Exclude map[int]bool
	Log     *slog.Logger

	mu  sync.Mutex
	lns map[int]net.Listener
}

// Run relays until ctx is done, then closes its listeners.
func (l *Loopback) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.lns == nil {
		l.lns = map[int]net.Listener{}
	}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, ln := range l.lns {
			ln.Close()
		}
	}()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		l.sync()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Ready relays the host's ports listening now (Run's first pass, for a caller that starts the
// app next).
func (l *Loopback) Ready() {
	l.mu.Lock()
	if l.lns == nil {
		l.lns = map[int]net.Listener{}
	}
	l.mu.Unlock()
	l.sync()
}

func (l *Loopback) sync() {
	ports, err := hostLoopbackPorts()
	if err != nil {
		l.Log.Warn("sandbox: reading the host's listening ports", slog.Any("error", err))
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for p, ln := range l.lns {
		if !ports[p] {
			ln.Close()
			delete(l.lns, p)
		}
	}
	for p := range ports {
		if l.Exclude[p] || l.lns[p] != nil {
			continue
		}
		ln, err := l.Netns.Listen("127.0.0.1:" + strconv.Itoa(p))
		if err != nil {
			continue // taken inside the sandbox (the app's own server): the app's wins
		}
		l.lns[p] = ln
		go l.serve(ln, p)
	}
}

func (l *Loopback) serve(ln net.Listener, port int) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
			if err != nil {
				return
			}
			defer up.Close()
			done := make(chan struct{}, 2)
			cp := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go cp(up, c)
			go cp(c, up)
			<-done
			<-done
		}()
	}
}

// hostLoopbackPorts are the TCP ports listening on 127.0.0.1 or 0.0.0.0 in the host's network
// namespace (/proc/thread-self/net/tcp: state 0A is LISTEN). It reads the calling thread's
// view, locked for the read: a thread that Netns.Do moved into a sandbox's namespace is locked
// to Do's goroutine meanwhile, so this one is in the host's. (/proc/net, that is
// /proc/self/net, follows the process's main thread, which may be the one inside a sandbox.)
func hostLoopbackPorts() (map[int]bool, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f, err := os.Open("/proc/thread-self/net/tcp")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ports := map[int]bool{}
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != "0A" {
			continue
		}
		ip, port, ok := strings.Cut(fields[1], ":")
		if !ok || (ip != "0100007F" && ip != "00000000") {
			continue
		}
		p, err := strconv.ParseUint(port, 16, 16)
		if err == nil {
			ports[int(p)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ports) == 0 {
		return ports, errors.New("no listening sockets read from /proc/net/tcp")
	}
	return ports, nil
}
