package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/logtail"
)

// Log follows: a server's console streams the output of an app this agent runs (docs/console.md,
// "Log stream"). The server cannot dial the agent, so the agent long-polls every server it knows
// (each endpoint: the console's stream is held by whichever server the browser reached) for the
// follows waiting for this node, and answers each with a request of its own that streams the
// app's lines, each with its position in the log ("{inode}:{offset}"), from where the reader
// asked, until the server ends it. Only apps this agent runs are served, and their lines are
// never logged.

// logFollowPoll is how often a follow looks for new lines in the app's log.
const logFollowPoll = 150 * time.Millisecond

// followLogs long-polls every endpoint for log follows until ctx is done.
func (a *Agent) followLogs(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, e := range a.up.eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.followLogsOf(ctx, e)
		}()
	}
	wg.Wait()
	return nil
}

// followLogsOf long-polls endpoint e for log follows and serves each, at most
// agentapi.MaxLogFollows at a time.
func (a *Agent) followLogsOf(ctx context.Context, e *endpoint) {
	var mu sync.Mutex
	running := map[string]bool{}
	var wg sync.WaitGroup
	defer wg.Wait()
	backoff := time.Second
	for ctx.Err() == nil {
		resp, err := a.up.logFollows(ctx, e, eventsWait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// The events long poll says when the control plane is away; this one says only what
			// a server that answered refused.
			if !unanswered(err) {
				a.log.Debug("log follows refused", slog.String("server", e.String()), slog.String("error", err.Error()))
			}
			if !sleep(ctx, backoff/2+rand.N(backoff/2+1)) {
				return
			}
			backoff = min(backoff*2, eventsBackoffMax)
			continue
		}
		backoff = time.Second
		for _, f := range resp.Follows {
			mu.Lock()
			if running[f.ID] || len(running) >= agentapi.MaxLogFollows {
				mu.Unlock()
				continue
			}
			running[f.ID] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.serveFollow(ctx, e, f)
				mu.Lock()
				delete(running, f.ID)
				mu.Unlock()
			}()
		}
	}
}

// appBySite returns the app this agent runs for the site with ARM id site, or nil.
func (s *appSet) bySite(site string) *app {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, ap := range s.byName {
		if ap.cfg.Site != "" && strings.EqualFold(ap.cfg.Site, site) {
			return ap
		}
	}
	return nil
}

// serveFollow streams the lines of follow f to endpoint e until the server ends the request.
func (a *Agent) serveFollow(ctx context.Context, e *endpoint, f agentapi.LogFollow) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(a.writeFollow(ctx, pw, f))
	}()
	q := url.Values{agentapi.QueryFollow: {f.ID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.base+agentapi.PathLogLines+"?"+q.Encode(), pr)
	if err != nil {
		pr.Close()
		return
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := e.mtls.Do(req)
	cancel() // the server answered or went away: the writer stops
	pr.Close()
	if err != nil {
		if ctx.Err() == nil {
			a.log.Debug("log follow: the server went away", slog.String("server", e.String()), slog.String("error", err.Error()))
		}
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxUpstreamBody))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		a.log.Debug("log follow: refused", slog.String("server", e.String()), slog.Int("status", resp.StatusCode))
	}
}

// writeFollow writes the lines of f's app to w as LogLine objects, one JSON object a line,
// from where the reader asked, then what the app writes next, until ctx is done or w fails.
// logtail gives each line's text as valid UTF-8 of at most logtail.MaxText bytes, which the
// server takes whatever bytes the app wrote.
func (a *Agent) writeFollow(ctx context.Context, w io.Writer, f agentapi.LogFollow) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	ap := a.apps.bySite(f.App)
	if ap == nil {
		// A node serves only the logs of the apps it runs.
		if err := enc.Encode(agentapi.LogLine{Error: "the agent of this node runs no app for this site"}); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		<-ctx.Done() // the server ends the request when its reader goes away
		return ctx.Err()
	}
	path := LogPath(a.cfg.StateDir, ap.cfg.Name)
	pos, ok := logtail.ParsePosition(f.After)
	if !ok {
		pos = logtail.Start(path, f.Tail)
	}
	tick := time.NewTicker(logFollowPoll)
	defer tick.Stop()
	for {
		var err error
		pos, err = logtail.Read(path, pos, func(text string, after logtail.Position) error {
			return enc.Encode(agentapi.LogLine{ID: after.String(), Text: text})
		})
		if err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// logFollows long-polls endpoint e for the log follows waiting for this node.
func (u *upstream) logFollows(ctx context.Context, e *endpoint, wait time.Duration) (agentapi.LogFollowsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, wait+20*time.Second)
	defer cancel()
	q := url.Values{agentapi.QueryWait: {wait.String()}}
	var out agentapi.LogFollowsResponse
	err := e.call(ctx, e.mtls, http.MethodGet, agentapi.PathLogFollows+"?"+q.Encode(), nil, false, &out)
	return out, err
}
