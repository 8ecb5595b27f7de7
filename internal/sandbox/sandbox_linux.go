package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Options describe one app's sandbox.
type Options struct {
	Key      string       // the app's key (its site's id): names the namespace
	Dir      string       // a directory of the sandbox's own files (made 0700)
	Identity http.Handler // the app's metadata endpoint, served at 169.254.169.254:80
	Relay    *Splice      // the relay of Azure's names, at RelayAddr:443
	Resolver Resolver     // the resolver, served at RelayAddr:53 (its Relay address is set here)
	Bundle   []byte       // the trust store inside: the host's CAs, Lanyard's and the sandbox CA
	Exclude  map[int]bool // host loopback ports never relayed inside (the agent's own)
	Log      *slog.Logger
}

// Sandbox is one app's sandbox: its network namespace, the agent's servers inside it, and the
// files bind-mounted over the system's for the app.
type Sandbox struct {
	Netns *Netns
	binds []Bind
	stop  context.CancelFunc
	wg    sync.WaitGroup
	lns   []io.Closer
	log   *slog.Logger
}

// SystemTrustStores are the files the runtimes read the system's CAs from; inside a sandbox
// each that exists is covered by the sandbox's bundle.
var SystemTrustStores = []string{
	"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu (OpenSSL, Go, Python's certifi on Debian, curl)
	"/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
	"/etc/ssl/cert.pem",                  // Alpine, others
}

// Open makes the app's sandbox and starts its servers; Close undoes it.
func Open(ctx context.Context, o Options) (_ *Sandbox, err error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	if len(o.Resolver.Upstream) == 0 {
		o.Resolver.Upstream = HostResolvers(resolv)
	}
	files := map[string][]byte{
		"resolv.conf": sandboxResolvConf(resolv),
		"ca-bundle":   o.Bundle,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(o.Dir, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	ns, err := NewNetns(ctx, NetnsName(o.Key))
	if err != nil {
		return nil, err
	}
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	s := &Sandbox{Netns: ns, stop: stop, log: o.Log}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.binds = append(s.binds, Bind{filepath.Join(o.Dir, "resolv.conf"), "/etc/resolv.conf"})
	for _, p := range SystemTrustStores {
		s.binds = append(s.binds, Bind{filepath.Join(o.Dir, "ca-bundle"), p})
	}

	imds, err := ns.Listen(net.JoinHostPort(IMDSAddr.String(), "80"))
	if err != nil {
		return nil, fmt.Errorf("the sandbox's metadata endpoint: %w", err)
	}
	s.serveHTTP(imds, o.Identity)
	relay, err := ns.Listen(net.JoinHostPort(RelayAddr.String(), "443"))
	if err != nil {
		return nil, fmt.Errorf("the sandbox's relay: %w", err)
	}
	s.lns = append(s.lns, relay)
	s.goRun(func() {
		if err := o.Relay.Serve(relay); err != nil {
			s.log.Warn("sandbox relay stopped", slog.Any("error", err))
		}
	})
	o.Resolver.Relay = RelayAddr
	dnsAddr := net.JoinHostPort(RelayAddr.String(), "53")
	udp, err := ns.ListenPacket(dnsAddr)
	if err != nil {
		return nil, fmt.Errorf("the sandbox's resolver: %w", err)
	}
	tcp, err := ns.Listen(dnsAddr)
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("the sandbox's resolver: %w", err)
	}
	s.lns = append(s.lns, udp, tcp)
	res := o.Resolver
	s.goRun(func() { _ = res.ServeUDP(udp) })
	s.goRun(func() { _ = res.ServeTCP(tcp) })
	lb := &Loopback{Netns: ns, Exclude: o.Exclude, Log: o.Log}
	lb.Ready()
	s.goRun(func() { _ = lb.Run(life) })
	s.startOutbound(life, o.Log)
	return s, nil
}

// startOutbound gives the namespace a route to everything beyond the host's loopback, through
// pasta (Debian's passt), which relays its traffic through the host's own sockets, so the app
// reaches its databases and services elsewhere as the host does. Without pasta the app reaches
// Lanyard and the host's loopback only, and the log says so.
func (s *Sandbox) startOutbound(ctx context.Context, log *slog.Logger) {
	pasta, err := exec.LookPath("pasta")
	if err != nil {
		log.Warn("sandbox: no outbound network beyond this host's loopback (pasta is not installed: apt-get install passt)")
		return
	}
	// -f: in the foreground, as the agent's child; --runas 0: as root it would switch to nobody,
	// which cannot open the namespace; -T/-U/-t/-u none: no port forwarding (the loopback relay
	// does that, leaving out the agent's own ports).
	cmd := exec.CommandContext(ctx, pasta, "-f", "-q", "--runas", "0", "--config-net", "--no-map-gw",
		"-T", "none", "-U", "none", "-t", "none", "-u", "none", "--netns", s.Netns.Name)
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		log.Warn("sandbox: no outbound network (pasta did not start)", slog.Any("error", err))
		return
	}
	s.goRun(func() {
		if err := cmd.Wait(); err != nil && ctx.Err() == nil {
			log.Warn("sandbox: pasta stopped: no outbound network", slog.Any("error", err))
		}
	})
	// The app starts once the route is there (pasta sets it up within a few milliseconds).
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out, err := exec.CommandContext(ctx, "ip", "-n", s.Netns.Name, "route", "show", "default").Output()
		if err == nil && len(strings.TrimSpace(string(out))) > 0 {
			return
		}
	}
	log.Warn("sandbox: pasta set no route within 3 s: the app may start without outbound network")
}

func (s *Sandbox) goRun(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

func (s *Sandbox) serveHTTP(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.lns = append(s.lns, closerFunc(func() error { return srv.Close() }))
	s.goRun(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("sandbox server stopped", slog.Any("error", err))
		}
	})
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// Command returns a command that runs argv inside the sandbox (see Command).
func (s *Sandbox) Command(argv []string) (*exec.Cmd, error) { return Command(s.Netns, s.binds, argv) }

// Binds are the files the sandbox covers, for a caller that runs the process itself.
func (s *Sandbox) Binds() []Bind { return append([]Bind(nil), s.binds...) }

// Close stops the sandbox's servers and removes its namespace.
func (s *Sandbox) Close() error {
	s.stop()
	for _, c := range s.lns {
		_ = c.Close()
	}
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Netns.Remove(ctx)
}

// sandboxResolvConf is the host's resolv.conf with the sandbox's resolver as its only
// nameserver (search and options kept).
func sandboxResolvConf(host []byte) []byte {
	var b strings.Builder
	b.WriteString("# Lanyard sandbox: Azure's names resolve to the agent's relay; the rest as on the host\n")
	b.WriteString("nameserver " + RelayAddr.String() + "\n")
	for _, line := range strings.Split(string(host), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == "search" || f[0] == "domain" || f[0] == "options") {
			b.WriteString(line + "\n")
		}
	}
	return []byte(b.String())
}
