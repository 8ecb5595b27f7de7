package functions

import (
	"bytes"
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
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/lanyardhq/lanyard/internal/frontdoor/backend"
)

// The workers. A worker is anything that answers the custom-handler protocol over HTTP
// (functions.md §3): a custom handler (host.json customHandler), or Lanyard's Node worker,
// which is a custom handler the host starts itself (doc.go). The host sees one small interface.

// worker runs an app's code.
type worker interface {
	// do sends req to the worker: req.URL holds only the path and query; the worker sets the
	// rest. It fails when the worker dies while it holds the request.
	do(req *http.Request) (*http.Response, error)
	// invoke sends the invocation document doc ({"Data","Metadata"}, §3.2) of function name and
	// returns the answer's status and body (§3.3): POST /{name} for a custom handler, a frame
	// for Lanyard's Node worker (frames.go). It fails as do does.
	invoke(ctx context.Context, name, invocationID string, doc []byte) (int, []byte, error)
	// close stops the worker (ctx bounds the wait for it to exit).
	close(ctx context.Context) error
}

// hostVersion is the host version the workers are told (X-Azure-Functions-HostVersion).
const hostVersion = "4.1036.1.0"

// process is a worker process the host starts, restarts after a crash with exponential
// backoff, and talks to over HTTP on 127.0.0.1:{port} (§3.1), on keep-alive connections of
// the front door's backend pool: each invocation is written and its answer read in the
// invoking goroutine. An invocation whose body is over backend.MaxBody, or of unknown length,
// goes through net/http's Transport instead, which reads the answer while it writes the body (a
// worker that streams its answer as it reads, an echo, would otherwise wait forever).
type process struct {
	argv []string
	dir  string
	env  []string // without the port variables
	cfg  *Config
	log  *slog.Logger
	flog *funcLog
	dial backend.DialFunc
	// sock is the unix socket on which Lanyard's Node worker takes invocations in frames
	// (frames.go), given to it as LANYARD_WORKER_SOCKET; nil for a custom handler.
	sock *workerSocket

	mu      sync.Mutex
	gen     *generation
	readyCh chan struct{} // closed when gen is ready; replaced after a crash

	stop     context.CancelFunc
	stopped  chan struct{}
	started  chan error // the first start's outcome
	restarts int        // for tests
}

// generation is one run of the worker process.
type generation struct {
	addr string // 127.0.0.1:{port}
	pool *backend.Pool
	tr   *http.Transport // for the bodies the pool does not take
	// frames are the connections to the worker's socket (process.sock), nil without one
	frames *framePool
	ctx    context.Context
}

// backoff bounds (Lanyard's own).
var (
	backoffMin   = 100 * time.Millisecond
	backoffMax   = 30 * time.Second
	readyTimeout = 60 * time.Second // "start within 60 seconds" (§3.1)
	readyPoll    = 20 * time.Millisecond
)

func startProcess(cfg *Config, flog *funcLog, argv []string, dir string, env []string, sock *workerSocket) *process {
	p := &process{argv: argv, dir: dir, env: env, cfg: cfg, log: cfg.Log, flog: flog, sock: sock,
		readyCh: make(chan struct{}), stopped: make(chan struct{}), started: make(chan error, 1)}
	if cfg.Dial != nil {
		p.dial = cfg.Dial
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	go p.supervise(ctx)
	return p
}

// waitStarted waits for the first start: the worker answered, or it could not start.
func (p *process) waitStarted(ctx context.Context) error {
	select {
	case err := <-p.started:
		return err
	case <-ctx.Done():
		return fmt.Errorf("the worker did not answer in time: %w", ctx.Err())
	}
}

func (p *process) supervise(ctx context.Context) {
	defer close(p.stopped)
	defer p.sock.close()
	backoff := backoffMin
	first := true
	for {
		up := time.Now()
		err := p.runOnce(ctx, &first)
		if ctx.Err() != nil {
			return
		}
		if first { // never got ready: the first start failed
			p.started <- err
			first = false
			// keep trying in the background, as Azure's host does
		}
		p.log.Warn("function worker exited; restarting", "argv0", p.argv[0], "err", err, "backoff", backoff)
		p.flog.write(levelError, fmt.Sprintf("The language worker process exited (%v); restarting it in %s.", err, backoff))
		if time.Since(up) > 2*time.Minute {
			backoff = backoffMin
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, backoffMax)
		p.mu.Lock()
		p.restarts++
		p.mu.Unlock()
	}
}

// runOnce starts the process, waits for it to be ready, and returns when it exits.
func (p *process) runOnce(ctx context.Context, first *bool) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	cmd, err := p.command()
	if err != nil {
		return err
	}
	ps := strconv.Itoa(port)
	id := newID()
	cmd.Env = append(append([]string{}, p.env...),
		"FUNCTIONS_CUSTOMHANDLER_PORT="+ps, "FUNCTIONS_HTTPWORKER_PORT="+ps,
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID="+id, "FUNCTIONS_HTTPWORKER_ID="+id)
	if p.sock != nil {
		// the previous run's socket (a worker that crashed leaves it); the worker makes its own
		if err := os.Remove(p.sock.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		p.sock.addTo(cmd)
	}
	if cmd.Dir == "" {
		cmd.Dir = p.dir
	}
	if cmd.Stdout == nil {
		cmd.Stdout = &lineWriter{log: p.flog, level: levelInformation}
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &lineWriter{log: p.flog, level: levelError}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.argv[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The host's own processes lead a process group, which is signalled whole (a handler
	// started by a shell script leaves no child behind); Config.Command's are the caller's.
	group := p.cfg.Command == nil
	signal := func(s syscall.Signal) {
		if group {
			_ = syscall.Kill(-cmd.Process.Pid, s)
			return
		}
		_ = cmd.Process.Signal(s)
	}
	kill := func() error {
		signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(5 * time.Second):
			signal(syscall.SIGKILL)
			return <-exited
		}
	}
	addr := "127.0.0.1:" + ps
	pool := backend.NewPool(addr, p.dial)
	defer pool.Close()
	tr := p.transport()
	defer tr.CloseIdleConnections()
	gctx, gcancel := context.WithCancel(ctx)
	defer gcancel()
	// readiness: any HTTP answer to GET / (§3.1)
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	for {
		rctx, rcancel := context.WithTimeout(gctx, 2*time.Second)
		resp, err := pool.RoundTrip(rctx, &backend.Request{Method: http.MethodGet, URI: "/", Host: addr})
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		rcancel()
		if err == nil {
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the worker exited before it was ready: %v", exitErr(err))
		case <-ctx.Done():
			return kill()
		case <-deadline.C:
			_ = kill()
			return fmt.Errorf("the worker did not answer on port %d within %s", port, readyTimeout)
		case <-time.After(readyPoll):
		}
	}
	g := &generation{addr: addr, pool: pool, tr: tr, ctx: gctx}
	if p.sock != nil {
		// the worker listens on its socket before its port: it is ready too
		g.frames = newFramePool(p.sock.dialPath())
		defer g.frames.close()
	}
	p.mu.Lock()
	p.gen = g
	close(p.readyCh)
	p.mu.Unlock()
	if *first {
		*first = false
		p.started <- nil
	}
	var result error
	select {
	case err := <-exited:
		result = exitErr(err)
	case <-ctx.Done():
		result = kill()
	}
	// the invocations it held fail (their requests are cancelled with the generation)
	p.mu.Lock()
	p.gen = nil
	p.readyCh = make(chan struct{})
	p.mu.Unlock()
	gcancel()
	return result
}

func exitErr(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}

func (p *process) command() (*exec.Cmd, error) {
	if p.cfg.Command != nil {
		return p.cfg.Command(p.argv)
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, nil
}

func (p *process) do(req *http.Request) (*http.Response, error) {
	return onWorker(p, req.Context(), func(g *generation) (*http.Response, error) { return p.send(req, g) })
}

// onWorker runs send on the current run of the worker, waiting for one to be ready. When send
// could not reach the worker (it is gone, and nothing was sent), it waits for the host to see
// the exit and runs send again on the next run.
func onWorker[T any](p *process, ctx context.Context, send func(*generation) (T, error)) (T, error) {
	for {
		p.mu.Lock()
		g, ready := p.gen, p.readyCh
		p.mu.Unlock()
		if g != nil {
			v, err := send(g)
			if err != nil && notSent(err) {
				select {
				case <-g.ctx.Done():
					continue
				case <-time.After(2 * time.Second):
				case <-ctx.Done():
				}
			}
			return v, err
		}
		select {
		case <-ready:
		case <-ctx.Done():
			var zero T
			return zero, fmt.Errorf("the worker is not running: %w", ctx.Err())
		case <-p.stopped:
			var zero T
			return zero, errors.New("the host is stopping")
		}
	}
}

// notSent reports whether err is a connection the worker refused: it is gone (a unix socket
// whose worker exited may also be gone itself).
func notSent(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// connEnded reports whether err is the worker's end of a connection going away.
func connEnded(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (p *process) invoke(ctx context.Context, name, invocationID string, doc []byte) (int, []byte, error) {
	if p.sock == nil {
		return p.post(ctx, name, invocationID, doc)
	}
	type answer struct {
		status int
		body   []byte
	}
	a, err := onWorker(p, ctx, func(g *generation) (answer, error) {
		status, body, err := g.frames.invoke(ctx, name, invocationID, doc)
		if err != nil && ctx.Err() == nil && connEnded(err) {
			// the worker is likely exiting: the host sees it in a moment, and says so
			select {
			case <-g.ctx.Done():
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
		if err != nil && g.ctx.Err() != nil && !notSent(err) {
			err = errors.New("the worker exited during the invocation")
		}
		return answer{status, body}, err
	})
	return a.status, a.body, err
}

// post is an invocation as a custom handler takes it (§3.2, Azure's): POST /{name}.
func (p *process) post(ctx context.Context, name, invocationID string, doc []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/"+name, bytes.NewReader(doc))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	setWorkerHeaders(req.Header, invocationID)
	resp, err := p.do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// transport is the net/http Transport of one run of the worker, for the requests the pool does
// not take (process's comment).
func (p *process) transport() *http.Transport {
	dial := p.dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
		DisableCompression: true}
}

// direct reports whether req's body is one the pool takes: none, or of known length up to
// backend.MaxBody.
func direct(req *http.Request) bool {
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	return req.ContentLength > 0 && req.ContentLength <= backend.MaxBody // 0 with a body: unknown
}

func (p *process) send(req *http.Request, g *generation) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(g.ctx, cancel)
	var resp *http.Response
	var err error
	switch {
	case p.cfg.viaTransport != nil:
		resp, err = p.cfg.viaTransport(req.WithContext(ctx), g.addr)
	case !direct(req):
		out := req.WithContext(ctx)
		u := *req.URL
		out.URL = &u
		out.URL.Scheme, out.URL.Host = "http", g.addr
		out.Host = g.addr
		resp, err = g.tr.RoundTrip(out) // no redirect is followed (§3.1, forwarding mode)
	default:
		breq := backend.Request{Method: req.Method, URI: req.URL.RequestURI(), Host: g.addr, Header: req.Header}
		if req.ContentLength > 0 {
			breq.Body, breq.ContentLength = req.Body, req.ContentLength
		}
		resp, err = g.pool.RoundTrip(ctx, &breq)
	}
	if err != nil {
		stop()
		cancel()
		if g.ctx.Err() != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, errors.New("the worker exited during the invocation")
		}
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, done: func() { stop(); cancel() }}
	return resp, nil
}

// cancelBody releases the request's context when the answer's body is closed.
type cancelBody struct {
	io.ReadCloser
	done func()
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}

func (p *process) close(ctx context.Context) error {
	p.stop()
	select {
	case <-p.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// freePort picks a free TCP port on 127.0.0.1 (§3.1: the host picks the port).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// handlerArgv resolves host.json's executable: a relative path is joined to the working
// directory only if that file exists, else it is a command on PATH (§1.1, Azure's).
func handlerArgv(h *handlerConfig) []string {
	exe := h.executable
	if !filepath.IsAbs(exe) {
		if _, err := os.Stat(filepath.Join(h.workDir, exe)); err == nil {
			exe = filepath.Join(h.workDir, exe)
		}
	}
	return append([]string{exe}, h.args...)
}
