package nodeworker

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The framed protocol (Lanyard's own, doc.go): the worker's side, on its unix socket.

// framesWorker starts the worker for a v3 app whose gate function waits until open is called
// with its tag (open?peek=1 tells whether it waits), with LANYARD_WORKER_SOCKET set, and returns the worker and the socket's path.
func framesWorker(t *testing.T) (*worker, string) {
	t.Helper()
	root := t.TempDir()
	fn := `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"http","direction":"out","name":"res"}]}`
	for name, src := range map[string]string{
		"gate": `module.exports = async function (context, req) {
  await new Promise((resolve) => { (globalThis.gates ||= {})[req.query.tag] = resolve; });
  context.log('gate ' + req.query.tag);
  context.res = { body: 'opened ' + req.query.tag };
};`,
		"open": `module.exports = async function (context, req) {
  const gates = globalThis.gates || {};
  const g = gates[req.query.tag];
  if (g && !req.query.peek) { delete gates[req.query.tag]; g(); }
  context.res = { body: g ? 'yes' : 'no' };
};`,
	} {
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name, "function.json"), []byte(fn), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name, "index.js"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "worker.sock")
	return startWorker(t, root, "LANYARD_WORKER_SOCKET="+sock), sock
}

func dialFrames(t *testing.T, sock string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second)) // a test that went wrong fails, not hangs
	return c
}

func frameOf(doc string) string {
	return string(binary.BigEndian.AppendUint32(nil, uint32(len(doc)))) + doc
}

// request is a request frame for function name with an HTTP trigger's query.
func request(t *testing.T, id int, name, query string) []byte {
	t.Helper()
	doc, err := json.Marshal(map[string]any{"id": id, "name": name, "invocationId": "inv-" + query, "body": map[string]any{
		"Data":     map[string]any{"req": httpTrigger("GET", "http://app.example/api/"+name+"?"+query, nil, nil)},
		"Metadata": map[string]any{},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(doc))), doc...)
}

type answerFrame struct {
	ID     int `json:"id"`
	Status int `json:"status"`
	Body   struct {
		Outputs    map[string]struct{ Body string }
		LogEntries []struct{ Message string }
		Error      string `json:"error"`
	} `json:"body"`
}

func readAnswer(t *testing.T, c net.Conn) answerFrame {
	t.Helper()
	var hd [4]byte
	if _, err := io.ReadFull(c, hd[:]); err != nil {
		t.Fatal(err)
	}
	doc := make([]byte, binary.BigEndian.Uint32(hd[:]))
	if _, err := io.ReadFull(c, doc); err != nil {
		t.Fatal(err)
	}
	var a answerFrame
	if err := json.Unmarshal(doc, &a); err != nil {
		t.Fatalf("answer %s: %v", doc, err)
	}
	return a
}

// Requests overlap on one connection, each answered with its id as it ends; a request may come
// in pieces, and several in one write.
func TestFramesOverlapOnOneConnection(t *testing.T) {
	_, sock := framesWorker(t)
	c := dialFrames(t, sock)
	gate := request(t, 1, "gate", "tag=a")
	if _, err := c.Write(gate[:3]); err != nil { // a partial frame, the rest later
		t.Fatal(err)
	}
	if _, err := c.Write(append(gate[3:], append(request(t, 2, "open", "tag=a"), request(t, 3, "nothere", "")...)...)); err != nil {
		t.Fatal(err)
	}
	got := map[int]answerFrame{}
	for range 3 {
		a := readAnswer(t, c)
		got[a.ID] = a
	}
	if a := got[1]; a.Status != 200 || a.Body.Outputs["res"].Body != "opened a" || len(a.Body.LogEntries) != 1 || a.Body.LogEntries[0].Message != "gate a" {
		t.Errorf("gate: %+v", a)
	}
	if a := got[2]; a.Status != 200 || a.Body.Outputs["res"].Body != "yes" {
		t.Errorf("open: %+v", a)
	}
	if a := got[3]; a.Status != 404 || a.Body.Error != "no function named 'nothere' in this app" {
		t.Errorf("unknown function: %+v", a)
	}
}

// A frame over the limit or that is not a request closes its connection (the secret it may
// hold is not repeated); one the host closed before its answer is not answered. The worker goes
// on serving other connections.
func TestFramesBadFramesCloseTheConnection(t *testing.T) {
	w, sock := framesWorker(t)
	for name, raw := range map[string]string{
		"over the limit": "\xff\xff\xff\xff",
		"not JSON":       frameOf("not JSON: s3cr3t-v4l"),
		"no id":          frameOf(`{"name":"gate"}`),
	} {
		c := dialFrames(t, sock)
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("%s: read %d, %v; want the connection closed", name, n, err)
		}
	}
	gone := dialFrames(t, sock)
	if _, err := gone.Write(request(t, 1, "gate", "tag=b")); err != nil {
		t.Fatal(err)
	}
	c := dialFrames(t, sock)
	for id := 1; ; id++ {
		if _, err := c.Write(request(t, id, "open", "peek=1&tag=b")); err != nil {
			t.Fatal(err)
		}
		if a := readAnswer(t, c); a.Body.Outputs["res"].Body == "yes" {
			break
		}
	}
	gone.Close()
	if _, err := c.Write(request(t, 100, "open", "tag=b")); err != nil {
		t.Fatal(err)
	}
	if a := readAnswer(t, c); a.ID != 100 || a.Status != 200 || a.Body.Outputs["res"].Body != "yes" {
		t.Errorf("open: %+v", a)
	}
	if _, err := c.Write(request(t, 101, "open", "tag=b")); err != nil {
		t.Fatal(err)
	}
	if a := readAnswer(t, c); a.ID != 101 || a.Status != 200 || a.Body.Outputs["res"].Body != "no" {
		t.Errorf("after: %+v", a)
	}
	l := w.stderr.String()
	if strings.Contains(l, "s3cr3t") || !strings.Contains(l, "over 268435456 bytes") || strings.Count(l, "is not an invocation") != 2 {
		t.Errorf("stderr:\n%s", l)
	}
}
