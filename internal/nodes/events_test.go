package nodes

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
)

// eventStore is the part of Store the events long poll reads, in memory.
type eventStore struct {
	Store  // the rest is not called
	mu     sync.Mutex
	events []Event
	pruned int64
}

func (m *eventStore) add(tenant, principal string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seq := m.pruned + int64(len(m.events)) + 1
	m.events = append(m.events, Event{Seq: seq, TenantID: tenant, Kind: "identity-changed", PrincipalID: principal})
}

func (m *eventStore) NodeEvents(_ context.Context, tenant string, after int64, limit int) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Event
	for _, e := range m.events {
		if e.TenantID == tenant && e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *eventStore) NodeEventHorizon(context.Context) (int64, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pruned + int64(len(m.events)), m.pruned, nil
}

func (m *eventStore) PruneNodeEvents(context.Context, time.Time) error { return nil }

func TestEventsLongPoll(t *testing.T) {
	st := &eventStore{}
	s := &Service{Store: st}
	n := Node{ID: "n1", TenantID: "t1"}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()

	// A first call answers at once with where to start, and Reset.
	first, err := s.Events(context.Background(), n, 0, false, time.Minute)
	if err != nil || !first.Reset || first.Next != 0 || len(first.Events) != 0 {
		t.Fatalf("first call: %+v, %v", first, err)
	}
	// A waiting call answers when an event of the node's tenant is written, not for another's.
	got := make(chan pollResult, 1)
	go func() {
		r, err := s.Events(context.Background(), n, first.Next, true, time.Minute)
		got <- pollResult{r.Events, r.Next, err}
	}()
	st.add("t2", "p-other")
	st.add("t1", "p1")
	select {
	case r := <-got:
		if r.err != nil || len(r.events) != 1 || r.events[0].PrincipalID != "p1" || r.next != 2 {
			t.Fatalf("woken poll: %+v", r)
		}
	case <-time.After(10 * PollEvery):
		t.Fatal("the long poll did not wake for an event of its tenant")
	}
	// A wait that sees nothing answers empty with Next unchanged.
	r, err := s.Events(context.Background(), n, 2, true, 10*time.Millisecond)
	if err != nil || len(r.Events) != 0 || r.Next != 2 || r.Reset {
		t.Fatalf("empty wait: %+v, %v", r, err)
	}
	// Asking after a seq older than what was pruned, or one never given, starts again.
	st.mu.Lock()
	st.pruned, st.events = 5, nil
	st.mu.Unlock()
	for _, after := range []int64{2, 9} {
		if r, err := s.Events(context.Background(), n, after, true, time.Minute); err != nil || !r.Reset || r.Next != 5 {
			t.Errorf("after=%d with events pruned through 5: %+v, %v", after, r, err)
		}
	}
	// Shutting down ends the waiting polls at once.
	waiting := make(chan error, 1)
	go func() {
		_, err := s.Events(context.Background(), n, 5, true, time.Minute)
		waiting <- err
	}()
	time.Sleep(2 * PollEvery)
	stop()
	select {
	case err := <-waiting:
		if err != nil {
			t.Errorf("poll ended by shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a long poll outlived the server's shutdown")
	}
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
}

// pollResult carries a poll's answer across a goroutine.
type pollResult struct {
	events []agentapi.Event
	next   int64
	err    error
}
