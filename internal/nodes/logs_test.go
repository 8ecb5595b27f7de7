package nodes

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/logtail"
)

// follows polls the follows of node n (a short wait) and returns them.
func follows(t *testing.T, s *Service, n Node, wait string) []agentapi.LogFollow {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, agentapi.PathLogFollows+"?wait="+wait, nil)
	if err := s.serveLogFollows(w, r, n); err != nil {
		t.Fatal(err)
	}
	var out agentapi.LogFollowsResponse
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out.Follows
}

// TestLogFollows: a follow is offered to the node it is for only, not again while its agent
// should be taking it; another node cannot take it; its lines reach the reader in order; a second
// lines request for it is refused; closing the reader answers the agent's request; and a node's
// follows are bounded.
func TestLogFollows(t *testing.T) {
	now := time.Now()
	s := &Service{Now: func() time.Time { return now }}
	n1 := Node{TenantID: "T1", Name: "node-1"}
	other := Node{TenantID: "t1", Name: "node-2"}
	otherTenant := Node{TenantID: "t2", Name: "node-1"}
	if _, err := s.FollowLog("t1", "sp:alice", "node-1", "/sites/a", "not a position", 100); !errs.Is(err, errs.Invalid) {
		t.Fatalf("a bad position: %v", err)
	}
	ls, err := s.FollowLog("t1", "sp:alice", "NODE-1", "/sites/a", "12:34", 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := follows(t, s, other, "10ms"); len(got) != 0 {
		t.Fatalf("another node was offered %v", got)
	}
	if got := follows(t, s, otherTenant, "10ms"); len(got) != 0 {
		t.Fatalf("a node of another tenant was offered %v", got)
	}
	got := follows(t, s, n1, "10ms")
	if len(got) != 1 || got[0].App != "/sites/a" || got[0].After != "12:34" || got[0].Tail != 100 || got[0].ID == "" {
		t.Fatalf("node-1 was offered %+v", got)
	}
	if again := follows(t, s, n1, "10ms"); len(again) != 0 {
		t.Fatalf("offered again at once: %v", again)
	}
	id := got[0].ID

	lines := func(n Node, body io.Reader) (*httptest.ResponseRecorder, error) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, agentapi.PathLogLines+"?follow="+id, body)
		return w, s.serveLogLines(w, r, n)
	}
	if _, err := lines(other, strings.NewReader("")); !errs.Is(err, errs.NotFound) {
		t.Fatalf("another node took the follow: %v", err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var w1 *httptest.ResponseRecorder
	go func() {
		var err error
		w1, err = lines(n1, pr)
		done <- err
	}()
	enc := json.NewEncoder(pw)
	for _, l := range []agentapi.LogLine{{ID: "12:40", Text: "one"}, {ID: "12:46", Text: "<b>two</b>"}} {
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"12:40 one", "12:46 <b>two</b>"} {
		select {
		case l := <-ls.Lines():
			if l.ID+" "+l.Text != want {
				t.Fatalf("line %+v, want %s", l, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no line %s", want)
		}
	}
	if !ls.Taken() {
		t.Error("the follow is not taken while its lines come")
	}
	if _, err := lines(n1, strings.NewReader("")); !errs.Is(err, errs.Conflict) {
		t.Fatalf("a second lines request: %v", err)
	}
	// The reader goes away: the agent's request is answered (its body is cut short by the
	// deadline on a real connection; here the next line finds the follow closed).
	ls.Close()
	_ = enc.Encode(agentapi.LogLine{ID: "12:50", Text: "three"})
	select {
	case err := <-done:
		if err != nil || w1.Code != http.StatusNoContent {
			t.Fatalf("the lines request ended with %v, %d", err, w1.Code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lines request goes on after the reader went away")
	}
	pw.Close()
	if _, err := lines(n1, strings.NewReader("")); !errs.Is(err, errs.NotFound) {
		t.Fatalf("a closed follow: %v", err)
	}

	// A line that is not right is left out or cut, and the lines after it still come: ending the
	// follow would have the reader reconnect to meet the same line again, for ever.
	ls2, err := s.FollowLog("t1", "sp:alice", "node-1", "/sites/a", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	defer ls2.Close()
	id = follows(t, s, n1, "10ms")[0].ID
	var body strings.Builder
	body.WriteString(`{"id":"x","text":"no position"}` + "\n" + "not JSON\n")
	enc = json.NewEncoder(&body)
	// An agent before logtail.MaxText sent a line's bytes as they were: its JSON encoder made each
	// byte that is not UTF-8 a U+FFFD, three times as long.
	_ = enc.Encode(agentapi.LogLine{ID: "12:70", Text: strings.Repeat("\xe9", logtail.MaxLine)})
	_ = enc.Encode(agentapi.LogLine{ID: "12:80", Text: strings.Repeat("日", logtail.MaxText/3) + "x日"})
	_ = enc.Encode(agentapi.LogLine{ID: "12:90", Text: "after"})
	if w, err := lines(n1, strings.NewReader(body.String())); err != nil || w.Code != http.StatusNoContent {
		t.Fatalf("the lines request with bad lines: %v", err)
	}
	for _, want := range []struct {
		id   string
		text string
	}{{"12:70", strings.Repeat("\uFFFD", logtail.MaxLine)}, {"12:80", strings.Repeat("日", logtail.MaxText/3)}, {"12:90", "after"}} {
		select {
		case l := <-ls2.Lines():
			if l.ID != want.id || l.Text != want.text {
				t.Fatalf("line %s of %d bytes, want %s of %d", l.ID, len(l.Text), want.id, len(want.text))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no line %s", want.id)
		}
	}
	select {
	case <-ls2.Ended():
	case <-time.After(time.Second):
		t.Fatal("the stream did not end with its lines request")
	}

	// At most MaxLogFollows of a node at a time.
	var open []*LogStream
	for i := range agentapi.MaxLogFollows - 1 {
		l, err := s.FollowLog("t1", fmt.Sprintf("sp:reader-%d", i), "node-1", "/sites/b", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, l)
	}
	if _, err := s.FollowLog("t1", "sp:someone-else", "node-1", "/sites/b", "", 0); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("one more follow: %v", err)
	}
	for _, l := range open {
		l.Close()
	}
	// The long poll waits, and wakes when a follow comes.
	go func() {
		time.Sleep(50 * time.Millisecond)
		l, _ := s.FollowLog("t1", "sp:alice", "node-1", "/sites/c", "", 0)
		if l != nil {
			defer l.Close()
			time.Sleep(time.Second)
		}
	}()
	if got := follows(t, s, n1, "5s"); len(got) != 1 || got[0].App != "/sites/c" {
		t.Fatalf("the long poll gave %+v", got)
	}
}

// TestLogFollowsPerCaller: one caller holds at most MaxCallerFollows follows of one site (429), so
// that it cannot take all of a node's follows from the other sites and callers; other callers,
// and the caller's other sites, are not held back, and a closed follow frees its place.
func TestLogFollowsPerCaller(t *testing.T) {
	s := &Service{}
	open := func(tenant, actor, site string) (*LogStream, error) {
		t.Helper()
		l, err := s.FollowLog(tenant, actor, "node-1", site, "", 0)
		if err == nil {
			t.Cleanup(l.Close)
		}
		return l, err
	}
	var mine []*LogStream
	for range MaxCallerFollows {
		l, err := open("t1", "sp:alice", "/sites/a")
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, l)
	}
	if _, err := open("t1", "sp:alice", "/SITES/A"); !errs.Is(err, errs.TooMany) {
		t.Fatalf("one more follow of the same site by the same caller: %v, want TooMany", err)
	}
	if _, err := open("t1", "sp:bob", "/sites/a"); err != nil {
		t.Fatalf("another caller of the site: %v", err)
	}
	if _, err := open("t1", "sp:alice", "/sites/b"); err != nil {
		t.Fatalf("the caller's other site: %v", err)
	}
	if _, err := open("t2", "sp:alice", "/sites/a"); err != nil {
		t.Fatalf("the same names in another tenant: %v", err)
	}
	mine[0].Close()
	mine[0].Close() // a second Close frees nothing more
	if _, err := open("t1", "sp:alice", "/sites/a"); err != nil {
		t.Fatalf("after one was closed: %v", err)
	}
	if _, err := open("t1", "sp:alice", "/sites/a"); !errs.Is(err, errs.TooMany) {
		t.Fatalf("a double Close freed two places: %v", err)
	}
}

// TestLogFollowsPerCallerNode: one caller holds at most MaxCallerNodeFollows follows of one
// node's sites, two a site, so that publish rights on many sites of a node do not let it take all
// of the node's follows; another caller still gets one, and a closed follow frees its place.
func TestLogFollowsPerCallerNode(t *testing.T) {
	s := &Service{}
	var mine []*LogStream
	for i := range MaxCallerNodeFollows {
		l, err := s.FollowLog("t1", "sp:alice", "node-1", fmt.Sprintf("/sites/s%d", i/MaxCallerFollows), "", 0)
		if err != nil {
			t.Fatalf("follow %d: %v", i, err)
		}
		t.Cleanup(l.Close)
		mine = append(mine, l)
	}
	if _, err := s.FollowLog("t1", "sp:alice", "node-1", "/sites/another", "", 0); !errs.Is(err, errs.TooMany) {
		t.Fatalf("one more follow of the node's sites by the same caller: %v, want TooMany", err)
	}
	if l, err := s.FollowLog("t1", "sp:alice", "node-2", "/sites/another", "", 0); err != nil {
		t.Fatalf("the caller's site on another node: %v", err)
	} else {
		t.Cleanup(l.Close)
	}
	if l, err := s.FollowLog("t1", "sp:bob", "node-1", "/sites/another", "", 0); err != nil {
		t.Fatalf("another caller of the node: %v", err)
	} else {
		t.Cleanup(l.Close)
	}
	mine[0].Close()
	if l, err := s.FollowLog("t1", "sp:alice", "node-1", "/sites/another", "", 0); err != nil {
		t.Fatalf("after one was closed: %v", err)
	} else {
		t.Cleanup(l.Close)
	}
}
