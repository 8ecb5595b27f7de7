package functions

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The framed protocol between the host and Lanyard's Node worker (frames.go, doc.go).

// gateApp is a v3 app: echo answers its tag; gate waits until open is called with its tag;
// open?peek=1 tells whether a gate with the tag waits; die kills the worker.
func gateApp(t *testing.T, host string) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	root := t.TempDir()
	if host == "" {
		host = `{"version":"2.0"}`
	}
	write(t, filepath.Join(root, "host.json"), host)
	fn := httpFn(`,"authLevel":"anonymous"`)
	for name, src := range map[string]string{
		"echo": `module.exports = async function (context, req) {
  await new Promise((r) => setTimeout(r, Math.random() * 5));
  context.res = { body: req.query.tag };
};`,
		"gate": `module.exports = async function (context, req) {
  await new Promise((resolve) => { (globalThis.gates ||= {})[req.query.tag] = resolve; });
  context.res = { body: 'opened ' + req.query.tag };
};`,
		"open": `module.exports = async function (context, req) {
  const gates = globalThis.gates || {};
  const g = gates[req.query.tag];
  if (g && !req.query.peek) { delete gates[req.query.tag]; g(); }
  context.res = { body: g ? 'yes' : 'no' };
};`,
		"die": `module.exports = async function () { process.kill(process.pid, 'SIGKILL'); };`,
	} {
		write(t, filepath.Join(root, name, "function.json"), fn)
		write(t, filepath.Join(root, name, "index.js"), src)
	}
	return root
}

// framesOf returns the current run's frame pool, which must exist.
func framesOf(t *testing.T, h *Host) *framePool {
	t.Helper()
	p := h.worker.(*process)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen == nil || p.gen.frames == nil {
		t.Fatal("the Node worker is not reached in frames")
	}
	return p.gen.frames
}

// liveConns counts the pool's connections that have not ended.
func liveConns(fp *framePool) int {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	n := 0
	for _, c := range fp.conns {
		if c != nil && c.ended() == nil {
			n++
		}
	}
	return n
}

// waitGate waits until the worker holds a gate named tag.
func waitGate(t *testing.T, h *Host, tag string) {
	waitFor(t, "gate "+tag, func() bool { return do(h, "GET", "/api/open?peek=1&tag="+tag, "", nil).Body.String() == "yes" })
}

// Invocations in flight at once, finishing in any order, each get their own answer.
func TestFramesConcurrentInvocations(t *testing.T) {
	h := startHost(t, Config{Root: gateApp(t, ""), Settings: map[string]string{"FUNCTIONS_WORKER_RUNTIME": "node"}}, nil)
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				tag := fmt.Sprintf("c%d-i%d", c, i)
				if w := do(h, "GET", "/api/echo?tag="+tag, "", nil); w.Code != 200 || w.Body.String() != tag {
					t.Errorf("%s: %d %q", tag, w.Code, w.Body.String())
					return
				}
			}
		}()
	}
	wg.Wait()
	if fp := framesOf(t, h); fp.dials.Load() != frameConns || liveConns(fp) != frameConns {
		t.Errorf("%d connections made, %d live; want %d", fp.dials.Load(), liveConns(fp), frameConns)
	}
}

// A worker killed while it holds invocations fails each with 500 and is restarted; the next
// run takes invocations in frames again.
func TestFramesWorkerKilled(t *testing.T) {
	var log logBuf
	h := startHost(t, Config{Root: gateApp(t, ""), FunctionLog: &log, Settings: map[string]string{"FUNCTIONS_WORKER_RUNTIME": "node"}}, nil)
	codes := make(chan int, 3)
	for i := range 3 {
		go func() { codes <- do(h, "GET", fmt.Sprintf("/api/gate?tag=g%d", i), "", nil).Code }()
		waitGate(t, h, fmt.Sprintf("g%d", i))
	}
	if w := do(h, "GET", "/api/die", "", nil); w.Code != 500 {
		t.Errorf("die: %d", w.Code)
	}
	for range 3 {
		if code := <-codes; code != 500 {
			t.Errorf("an invocation held by the killed worker: %d", code)
		}
	}
	waitFor(t, "the worker's exit", func() bool { return strings.Contains(log.String(), "The language worker process exited") })
	if w := do(h, "GET", "/api/echo?tag=again", "", nil); w.Code != 200 || w.Body.String() != "again" {
		t.Errorf("after the restart: %d %q", w.Code, w.Body.String())
	}
	framesOf(t, h)
	if n := restarts(h); n != 1 {
		t.Errorf("%d restarts", n)
	}
	// "the worker exited during the invocation" once the host saw the exit, which it waits a
	// little for; the test does not depend on how long that takes
	if !strings.Contains(log.String(), "Exception: the invocation failed: ") {
		t.Errorf("log:\n%s", log.String())
	}
}

// An invocation the host gives up on (functionTimeout, the client gone) fails with 500; the
// worker's late answer is dropped, and the connections go on.
func TestFramesCancelledInvocation(t *testing.T) {
	var log logBuf
	h := startHost(t, Config{Root: gateApp(t, `{"version":"2.0","functionTimeout":"00:00:01"}`), FunctionLog: &log,
		Settings: map[string]string{"FUNCTIONS_WORKER_RUNTIME": "node"}}, nil)
	if w := do(h, "GET", "/api/gate?tag=t", "", nil); w.Code != 500 {
		t.Errorf("timed out: %d", w.Code)
	}
	if !strings.Contains(log.String(), "Exception: Timeout value of 00:00:01 was exceeded by function: Functions.gate") {
		t.Errorf("log:\n%s", log.String())
	}

	// the client goes away
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/api/gate?tag=c", nil).WithContext(ctx))
		done <- w.Code
	}()
	waitGate(t, h, "c")
	cancel()
	if code := <-done; code != 500 {
		t.Errorf("cancelled: %d", code)
	}
	// both gates now answer onto closed connections
	for _, tag := range []string{"t", "c"} {
		if w := do(h, "GET", "/api/open?tag="+tag, "", nil); w.Code != 200 || w.Body.String() != "yes" {
			t.Errorf("open %s: %d %q", tag, w.Code, w.Body.String())
		}
	}
	for i := range 20 {
		tag := fmt.Sprint(i)
		if w := do(h, "GET", "/api/echo?tag="+tag, "", nil); w.Code != 200 || w.Body.String() != tag {
			t.Errorf("after: %d %q", w.Code, w.Body.String())
		}
	}
	if fp := framesOf(t, h); fp.dials.Load() != frameConns || liveConns(fp) != frameConns {
		t.Errorf("%d connections made, %d live; want %d", fp.dials.Load(), liveConns(fp), frameConns)
	}
	p := h.worker.(*process)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.restarts != 0 {
		t.Errorf("%d restarts", p.restarts)
	}
}

// peer is the worker's end of the protocol for the host's tests: on each connection, it reads
// request frames, sends each on got, and writes what answer returns for it and the requests of
// that connection it did not answer yet (raw bytes: frames, or not), closing the connection
// after them when end is set.
func peer(t *testing.T, answer func(req map[string]any, unanswered []map[string]any) (raw string, end bool)) (*framePool, chan map[string]any) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan map[string]any, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var unanswered []map[string]any
				for {
					var hd [4]byte
					if _, err := io.ReadFull(c, hd[:]); err != nil {
						return
					}
					doc := make([]byte, binary.BigEndian.Uint32(hd[:]))
					if _, err := io.ReadFull(c, doc); err != nil {
						return
					}
					var req map[string]any
					if err := json.Unmarshal(doc, &req); err != nil {
						t.Errorf("request frame %q: %v", doc, err)
						return
					}
					got <- req
					raw, end := answer(req, unanswered)
					if raw == "" && !end {
						unanswered = append(unanswered, req)
					} else {
						unanswered = nil
					}
					if _, err := io.WriteString(c, raw); err != nil || end {
						return
					}
				}
			}()
		}
	}()
	fp := newFramePool(path)
	t.Cleanup(fp.close)
	return fp, got
}

func frameOf(doc string) string {
	return string(binary.BigEndian.AppendUint32(nil, uint32(len(doc)))) + doc
}

// answerOf is an answer frame to req with ReturnValue v.
func answerOf(req map[string]any, v string) string {
	return frameOf(fmt.Sprintf(`{"id":%v,"status":201,"body":{"Outputs":{},"ReturnValue":%q}}`, req["id"], v))
}

// The host's side against a peer: the request frame, the connections, answers that break the
// protocol (the connection ends), cancellation.
func TestFramesHostSide(t *testing.T) {
	doc := []byte(`{"Data":{"req":{"Method":"GET"}},"Metadata":{}}`)
	ctx := context.Background()
	t.Run("answers", func(t *testing.T) {
		fp, got := peer(t, func(req map[string]any, _ []map[string]any) (string, bool) {
			return answerOf(req, req["invocationId"].(string)), false
		})
		for i := range 4 {
			status, body, err := fp.invoke(ctx, "fn", fmt.Sprintf("inv-%d", i), doc)
			if err != nil || status != 201 || string(body) != fmt.Sprintf(`{"Outputs":{},"ReturnValue":"inv-%d"}`, i) {
				t.Errorf("%d: %d %s %v", i, status, body, err)
			}
			req := <-got
			b, _ := json.Marshal(req["body"])
			if req["id"] != float64(i/frameConns+1) || req["name"] != "fn" || req["invocationId"] != fmt.Sprintf("inv-%d", i) || string(b) != string(doc) {
				t.Errorf("request %v", req)
			}
		}
		if fp.dials.Load() != frameConns {
			t.Errorf("%d connections made", fp.dials.Load())
		}
	})
	for name, tc := range map[string]struct {
		answer string
		want   error
	}{
		"over the limit": {"\x7f\xff\xff\xff", errFrame},
		"not JSON":       {frameOf(`{"id":1,`), errFrame},
		"no status":      {frameOf(`{"id":1,"body":{}}`), errFrame},
		"another id":     {frameOf(`{"id":7,"status":200,"body":{}}`), io.EOF}, // dropped
		"partial":        {"\x00\x00\x00\x40{\"id\":1", io.ErrUnexpectedEOF},
		"none":           {"", io.EOF},
	} {
		t.Run(name, func(t *testing.T) {
			fp, _ := peer(t, func(map[string]any, []map[string]any) (string, bool) { return tc.answer, true })
			if _, _, err := fp.invoke(ctx, "fn", "id", doc); !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if n := liveConns(fp); n != 0 {
				t.Errorf("%d connections live after a bad answer", n)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		// the peer answers "late" only with the next request on its connection, after it
		fp, got := peer(t, func(req map[string]any, unanswered []map[string]any) (string, bool) {
			if req["name"] == "late" {
				return "", false
			}
			raw := ""
			for _, u := range unanswered {
				raw += answerOf(u, "stale")
			}
			return raw + answerOf(req, "fresh"), false
		})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-got; cancel() }()
		if _, _, err := fp.invoke(ctx, "late", "id", doc); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v", err)
		}
		for range frameConns { // one of them is on the late one's connection
			if _, body, err := fp.invoke(context.Background(), "next", "id", doc); err != nil || !strings.Contains(string(body), "fresh") {
				t.Errorf("%s %v", body, err)
			}
			<-got
		}
		if fp.dials.Load() != frameConns || liveConns(fp) != frameConns {
			t.Errorf("%d connections made, %d live", fp.dials.Load(), liveConns(fp))
		}
	})
}

// A socket path that does not fit in a socket address: on Linux, the worker inherits the
// socket's directory and both sides name the socket through it, across restarts too; elsewhere
// the worker is reached over HTTP.
func TestFramesLongSocketPath(t *testing.T) {
	work := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	var log logBuf
	h := startHost(t, Config{Root: gateApp(t, ""), WorkDir: work, FunctionLog: &log, Settings: map[string]string{"FUNCTIONS_WORKER_RUNTIME": "node"}}, nil)
	sock := h.worker.(*process).sock
	if runtime.GOOS != "linux" {
		if sock != nil {
			t.Errorf("socket %s", sock.path)
		}
	} else if sock == nil || sock.dir == nil || len(sock.path) < maxSocketPath {
		t.Fatalf("socket %+v", sock)
	}
	if w := do(h, "GET", "/api/echo?tag=x", "", nil); w.Code != 200 || w.Body.String() != "x" {
		t.Errorf("%d %q", w.Code, w.Body.String())
	}
	if sock == nil {
		return
	}
	framesOf(t, h)
	if w := do(h, "GET", "/api/die", "", nil); w.Code != 500 {
		t.Errorf("die: %d", w.Code)
	}
	waitFor(t, "the worker's exit", func() bool { return strings.Contains(log.String(), "The language worker process exited") })
	if w := do(h, "GET", "/api/echo?tag=y", "", nil); w.Code != 200 || w.Body.String() != "y" {
		t.Errorf("after the restart: %d %q", w.Code, w.Body.String())
	}
	if fp := framesOf(t, h); fp.dials.Load() == 0 {
		t.Error("no connection to the restarted worker's socket")
	}
}
