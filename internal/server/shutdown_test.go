package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestShutdownLetsRequestsFinish: shutdown closes an HTTP/2 server's connections only once no
// request is in flight: a request running when it starts gets its whole answer, and shutdown
// returns after it.
func TestShutdownLetsRequestsFinish(t *testing.T) {
	var active atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		close(started)
		<-release
		_, _ = io.WriteString(w, "the whole answer")
	}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	c := ts.Client()

	type result struct {
		proto, body string
		err         error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := c.Get(ts.URL)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{proto: resp.Proto, body: string(b), err: err}
	}()
	<-started
	stopped := make(chan struct{})
	go func() {
		shutdown(context.Background(), ts.Config, &active)
		close(stopped)
	}()
	// Several of shutdown's looks go by with the request in flight.
	select {
	case <-stopped:
		t.Fatal("shutdown returned while a request was in flight")
	case r := <-got:
		t.Fatalf("the request ended before it was released: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "the whole answer" || r.proto != "HTTP/2.0" {
		t.Fatalf("the in-flight request: %+v", r)
	}
	<-stopped
}
