package nodes

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
)

// watcher tells waiting long polls that the newest event's seq has moved. One goroutine per
// server reads the store's horizon (Run); events are written by triggers in whatever server made
// the change, so every server learns of them the same way.
type watcher struct {
	mu      sync.Mutex
	last    int64
	changed chan struct{} // closed and replaced when last moves
	stopped chan struct{} // closed when Run ends: long polls answer at once
}

func (w *watcher) current() (last int64, changed, stopped <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	return w.last, w.changed, w.stopped
}

func (w *watcher) init() {
	if w.changed == nil {
		w.changed, w.stopped = make(chan struct{}), make(chan struct{})
	}
}

// stop ends every long poll, now and later: the server is shutting down, and an HTTP server's
// shutdown waits for the requests in flight.
func (w *watcher) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	close(w.stopped)
}

func (w *watcher) set(last int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	if last != w.last {
		w.last = last
		close(w.changed)
		w.changed = make(chan struct{})
	}
}

// PollEvery is how often Run reads the store's newest event; a change reaches the agents'
// caches within about this much time.
const PollEvery = 250 * time.Millisecond

// maxEvents bounds one answer of the events long poll.
const maxEvents = 500

// Run watches for new events and prunes old ones until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	retention := s.EventRetention
	if retention <= 0 {
		retention = DefaultEventRetention
	}
	every := s.PollInterval
	if every <= 0 {
		every = PollEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	defer s.watch.stop()
	var lastPrune time.Time
	for {
		if last, _, err := s.Store.NodeEventHorizon(ctx); err == nil {
			s.watch.set(last)
		} else if ctx.Err() == nil && s.Log != nil {
			s.Log.Warn("node events", slog.String("error", err.Error()))
		}
		if now := s.now(); now.Sub(lastPrune) > retention/10 {
			lastPrune = now
			if err := s.Store.PruneNodeEvents(ctx, now.Add(-retention)); err != nil && ctx.Err() == nil && s.Log != nil {
				s.Log.Warn("prune node events", slog.String("error", err.Error()))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-s.wakeChan():
		}
	}
}

// Changed tells Run that new events may have been written (the store announced it): Run reads
// the newest event's seq at once and wakes the long polls, instead of at its next poll.
func (s *Service) Changed() {
	select {
	case s.wakeChan() <- struct{}{}:
	default: // a wake is pending already
	}
}

func (s *Service) wakeChan() chan struct{} {
	s.wakeOnce.Do(func() { s.wake = make(chan struct{}, 1) })
	return s.wake
}

// Events answers the long poll of node n: the events of its tenant after seq after (none given:
// hasAfter false), waiting up to wait for one.
func (s *Service) Events(ctx context.Context, n Node, after int64, hasAfter bool, wait time.Duration) (agentapi.EventsResponse, error) {
	last, pruned, err := s.Store.NodeEventHorizon(ctx)
	if err != nil {
		return agentapi.EventsResponse{}, err
	}
	s.watch.set(last)
	if !hasAfter || after < pruned || after > last {
		// A first call, a gap older than the events kept, or a seq this store never gave (a
		// restored database): start again from now.
		return agentapi.EventsResponse{Events: []agentapi.Event{}, Next: last, Reset: true}, nil
	}
	if wait > agentapi.MaxWait {
		wait = agentapi.MaxWait
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		cur, changed, stopped := s.watch.current()
		if cur > after {
			evs, err := s.Store.NodeEvents(ctx, n.TenantID, after, maxEvents)
			if err != nil {
				return agentapi.EventsResponse{}, err
			}
			if len(evs) > 0 {
				out := agentapi.EventsResponse{Events: make([]agentapi.Event, len(evs)), Next: evs[len(evs)-1].Seq}
				for i, e := range evs {
					out.Events[i] = agentapi.Event{Seq: e.Seq, Kind: e.Kind, PrincipalID: e.PrincipalID}
				}
				return out, nil
			}
			// Only other tenants' events: nothing to tell, but this node need not look at them again.
			after = cur
		}
		select {
		case <-changed:
			continue
		case <-timer.C:
		case <-ctx.Done(): // the agent went away: no error to log
		case <-stopped: // the server is stopping
		}
		return agentapi.EventsResponse{Events: []agentapi.Event{}, Next: after}, nil
	}
}
