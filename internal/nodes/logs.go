package nodes

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/logtail"
)

// Log follows: a remote app's output for the console's Log stream (docs/console.md). The server
// does not dial agents, so a stream of an app on node N is a follow kept in this server's
// memory until N's agent, which long-polls every server it knows (PathLogFollows), takes it and
// streams the app's lines to this server on a request of its own (PathLogLines). The lines go
// through a small buffer to the reader: the agent's request is read only as fast as the reader
// takes them, so a slow reader holds the agent back (HTTP flow control) instead of this
// server's memory. The lines' text is never logged.

// followLines is how many lines a follow buffers between the agent's request and the reader.
const followLines = 64

// reofferAfter is how long a follow that was offered to the agent waits for its lines request
// before it is offered again (the agent missed the answer, or restarted).
const reofferAfter = 5 * time.Second

// MaxCallerFollows bounds the follows one caller (an audit actor) holds of one site on this
// server at a time. The per-node bound (agentapi.MaxLogFollows) is shared by every site and caller
// of the node, so without this one caller could hold all of a node's follows and shut every other
// app's stream out. Two leave room for a stream and its reconnect overlapping (a browser that
// reconnects before the server noticed the old connection is gone).
const MaxCallerFollows = 2

// MaxCallerNodeFollows bounds the follows one caller holds of all the sites of one node on this
// server: with publish rights on many sites of a node (a Contributor of the subscription), one
// caller could otherwise take all agentapi.MaxLogFollows of them, two a site. Half of them: the
// other half stays for everyone else.
const MaxCallerNodeFollows = agentapi.MaxLogFollows / 2

// logHub holds the follows of this server, by node.
type logHub struct {
	mu       sync.Mutex
	byNode   map[string]map[string]*follow // nodeKey → id → follow
	wake     map[string]chan struct{}      // nodeKey → closed when a follow is added for the node
	byID     map[string]*follow
	byCaller map[string]int // callerKey → follows open
}

// follow is one reader's wish for an app's output on one node.
type follow struct {
	key     string
	caller  string // callerKey
	callerN string // callerNodeKey
	req     agentapi.LogFollow
	offered time.Time // when a long poll last gave it to the agent
	taken   bool      // the agent's lines request is attached
	lines   chan agentapi.LogLine
	closed  chan struct{} // the reader went away
	ended   chan struct{} // the agent's lines request ended
	once    sync.Once
}

func nodeKey(tenantID, node string) string {
	return strings.ToLower(tenantID) + "/" + strings.ToLower(node)
}

// callerKey names a caller's follows of one site (its ARM id, which holds no newline).
func callerKey(tenantID, actor, app string) string {
	return strings.ToLower(tenantID) + "\n" + actor + "\n" + strings.ToLower(app)
}

// callerNodeKey counts a caller's follows of one node, in the same map as callerKey's (a node
// name has no newline, an app's ARM id starts with "/": the two cannot meet).
func callerNodeKey(tenantID, actor, node string) string {
	return strings.ToLower(tenantID) + "\n" + actor + "\n\n" + node
}

// LogStream is a follow of an app's output on a node: Lines until Ended.
type LogStream struct {
	hub *logHub
	f   *follow
}

// Lines are the app's lines, in order.
func (l *LogStream) Lines() <-chan agentapi.LogLine { return l.f.lines }

// Ended is closed when the agent's stream of lines ended (the node went away or restarted):
// the reader ends its stream and resumes with a new follow after its last line.
func (l *LogStream) Ended() <-chan struct{} { return l.f.ended }

// Taken reports whether the node's agent has started sending.
func (l *LogStream) Taken() bool {
	l.hub.mu.Lock()
	defer l.hub.mu.Unlock()
	return l.f.taken
}

// Close ends the follow: the agent's lines request is answered and the agent stops reading.
func (l *LogStream) Close() {
	l.f.once.Do(func() { close(l.f.closed) })
	h := l.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byID[l.f.req.ID] != l.f {
		return // closed already
	}
	delete(h.byID, l.f.req.ID)
	for _, k := range [...]string{l.f.caller, l.f.callerN} {
		if n := h.byCaller[k] - 1; n > 0 {
			h.byCaller[k] = n
		} else {
			delete(h.byCaller, k)
		}
	}
	if m := h.byNode[l.f.key]; m != nil {
		delete(m, l.f.req.ID)
		if len(m) == 0 {
			delete(h.byNode, l.f.key)
		}
	}
}

// FollowLog asks node's agent for the output of the site app (its ARM id), after position after
// (a reader's Last-Event-ID; empty: the last tail lines first), for the reader actor (the audit
// actor of the caller, which holds at most MaxCallerFollows of a site). The caller has
// authorised the reader and checked that the site is placed on node; it closes the stream when
// done.
func (s *Service) FollowLog(tenantID, actor, node, app, after string, tail int) (*LogStream, error) {
	if after != "" {
		if _, ok := logtail.ParsePosition(after); !ok {
			return nil, errs.E(errs.Invalid, "the last event id is not a log position ({inode}:{offset})")
		}
	}
	var b [16]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return nil, err
	}
	f := &follow{
		key:     nodeKey(tenantID, node),
		caller:  callerKey(tenantID, actor, app),
		callerN: callerNodeKey(tenantID, actor, node),
		req:     agentapi.LogFollow{ID: hex.EncodeToString(b[:]), App: app, After: after, Tail: tail},
		lines:   make(chan agentapi.LogLine, followLines),
		closed:  make(chan struct{}),
		ended:   make(chan struct{}),
	}
	h := &s.logs
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	if h.byCaller[f.caller] >= MaxCallerFollows {
		return nil, errs.E(errs.TooMany, "you have too many log streams of this site open on this server (at most %d): close one and try again", MaxCallerFollows)
	}
	if h.byCaller[f.callerN] >= MaxCallerNodeFollows {
		return nil, errs.E(errs.TooMany, "you have too many log streams of node %s's sites open on this server (at most %d): close one and try again", node, MaxCallerNodeFollows)
	}
	m := h.byNode[f.key]
	if len(m) >= agentapi.MaxLogFollows {
		return nil, errs.E(errs.Unavailable, "too many log streams of node %s are open on this server (at most %d): close one and try again", node, agentapi.MaxLogFollows)
	}
	h.byCaller[f.caller]++
	h.byCaller[f.callerN]++
	if m == nil {
		m = map[string]*follow{}
		h.byNode[f.key] = m
	}
	m[f.req.ID] = f
	h.byID[f.req.ID] = f
	if w := h.wake[f.key]; w != nil {
		close(w)
		delete(h.wake, f.key)
	}
	return &LogStream{hub: h, f: f}, nil
}

// init makes the hub's maps; h.mu is held.
func (h *logHub) init() {
	if h.byNode == nil {
		h.byNode, h.wake, h.byID, h.byCaller = map[string]map[string]*follow{}, map[string]chan struct{}{}, map[string]*follow{}, map[string]int{}
	}
}

// pending returns the follows of key to offer now, and a channel closed when one is added.
func (h *logHub) pending(key string, now time.Time) ([]agentapi.LogFollow, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []agentapi.LogFollow
	for _, f := range h.byNode[key] {
		if !f.taken && now.Sub(f.offered) >= reofferAfter {
			f.offered = now
			out = append(out, f.req)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	h.init()
	w := h.wake[key]
	if w == nil {
		w = make(chan struct{})
		h.wake[key] = w
	}
	return nil, w
}

// serveLogFollows is the long poll of PathLogFollows: the follows waiting for node n.
func (s *Service) serveLogFollows(w http.ResponseWriter, r *http.Request, n Node) error {
	wait := 30 * time.Second
	if v := r.URL.Query().Get(agentapi.QueryWait); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "wait must be a duration such as 30s"}
		}
		wait = min(d, agentapi.MaxWait)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	_, _, stopped := s.watch.current()
	key := nodeKey(n.TenantID, n.Name)
	for {
		out, changed := s.logs.pending(key, s.now())
		if len(out) > 0 {
			httpx.WriteJSON(w, http.StatusOK, agentapi.LogFollowsResponse{Follows: out})
			return nil
		}
		select {
		case <-changed:
			continue
		case <-timer.C:
		case <-r.Context().Done():
		case <-stopped:
		}
		httpx.WriteJSON(w, http.StatusOK, agentapi.LogFollowsResponse{Follows: []agentapi.LogFollow{}})
		return nil
	}
}

// serveLogLines takes the lines of one follow from node n's agent and hands them to the reader,
// as fast as it takes them, until the reader goes away or the agent's body ends.
func (s *Service) serveLogLines(w http.ResponseWriter, r *http.Request, n Node) error {
	id := r.URL.Query().Get(agentapi.QueryFollow)
	h := &s.logs
	h.mu.Lock()
	f := h.byID[id]
	switch {
	case f == nil || f.key != nodeKey(n.TenantID, n.Name): // another node's follow is not told apart from none
		h.mu.Unlock()
		return &errs.Error{Kind: errs.NotFound, Code: "follow_not_found", Msg: "no such log follow on this server (the reader went away)"}
	case f.taken:
		h.mu.Unlock()
		return &errs.Error{Kind: errs.Conflict, Code: "follow_taken", Msg: "this log follow is being served already"}
	}
	f.taken = true
	h.mu.Unlock()
	defer close(f.ended)
	// When the reader goes away while the agent has nothing to send, the read of the body is cut
	// short, so that neither side holds the request open for nothing.
	// The goroutine is waited for before the handler returns: a response controller must not be
	// used after that (HTTP/2's panics).
	rc := http.NewResponseController(w)
	stop, watched := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-watched }()
	go func() {
		defer close(watched)
		select {
		case <-f.closed:
			_ = rc.SetReadDeadline(time.Now())
		case <-stop:
		}
	}()

	sc := bufio.NewScanner(r.Body)
	// A line's JSON: MaxLine bytes of the file, each escaped at worst (\u001b), and its position.
	sc.Buffer(make([]byte, 0, 4096), 8*logtail.MaxLine)
	skipped := 0
	for sc.Scan() {
		// A line that is not right is left out, not the end of the follow: the reader would
		// reconnect after its last line and meet the same line again, for ever.
		var line agentapi.LogLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			skipped++
			continue
		}
		if line.Error == "" {
			if _, ok := logtail.ParsePosition(line.ID); !ok {
				skipped++
				continue
			}
			line.Text = clipText(line.Text)
		}
		select {
		case <-f.closed: // the reader went away (a send below could still win against it)
			w.WriteHeader(http.StatusNoContent)
			return nil
		default:
		}
		select {
		case f.lines <- line:
		case <-f.closed:
			w.WriteHeader(http.StatusNoContent)
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
	select {
	case <-f.closed: // the reader went away: the usual end
		w.WriteHeader(http.StatusNoContent)
		return nil
	default:
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) && r.Context().Err() == nil && s.Log != nil {
		s.Log.Debug("log follow ended", slog.String("node", n.Name), slog.String("error", err.Error()))
	}
	if skipped > 0 && s.Log != nil { // never their content
		s.Log.Debug("log follow: lines left out", slog.String("node", n.Name), slog.Int("lines", skipped))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// clipText cuts a line's text to logtail.MaxText bytes (what an agent sends; an older agent's JSON
// encoder replaced each byte that is not UTF-8 with U+FFFD, 3 bytes, on its own), on a character
// boundary (json.Unmarshal made it valid UTF-8).
func clipText(s string) string {
	if len(s) <= logtail.MaxText {
		return s
	}
	cut := logtail.MaxText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
