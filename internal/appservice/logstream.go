package appservice

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/resources"
)

// A site's log stream, GET {site}/logstream: Lanyard's own route (Azure streams an app's logs
// from its Kudu site, {app}.scm.azurewebsites.net/api/logstream, as plain text). The answer is
// server-sent events, one per line of the app's output, each with its position in the node's
// log as its id ("{inode}:{offset}"); a reader that sends the last id back (Last-Event-ID)
// resumes right after that line. The lines come from the agent of the node the site is placed
// on (?node= names one of several), through the agent API (nodes.Service.FollowLog). An app's
// output often holds secrets (a connection string printed at start, a token in a stack trace), so
// reading the site is not enough: the stream needs the right to publish to it
// (Microsoft.Web/sites/publish/Action, as zipdeploy does), as Azure's Kudu log stream needs the
// site's SCM (publishing) rights. The console's Log stream checks the same (CheckLogStream).

// LogStream is a follow of a site's output on a node (nodes.LogStream).
type LogStream interface {
	Lines() <-chan agentapi.LogLine
	Ended() <-chan struct{}
	Taken() bool
	Close()
}

// DefaultLogStreamMax is how long one log stream stays open before the server ends it.
const DefaultLogStreamMax = 5 * time.Minute

// logStreamTail is how many of the last lines a new stream starts with.
const logStreamTail = 100

// waitingNote is how long a stream waits for the node's agent before it says so (once).
const waitingNote = 3 * time.Second

// CheckLogStream checks that p may stream the output of the site with ARM id site (the right
// to publish to it) and returns the site: the rule of the log stream route, for the console's
// Log stream of the apps whose files it reads itself.
func (s *Service) CheckLogStream(ctx context.Context, p authn.Principal, tenantID, site string) (resources.Resource, error) {
	id, err := arm.Parse(site)
	if err != nil {
		return resources.Resource{}, err
	}
	return s.Sites.SiteFor(ctx, p, tenantID, id, actionPublish)
}

func (s *Service) serveLogStream(w http.ResponseWriter, r *http.Request, p authn.Principal, tenantID string, id arm.ID) error {
	site, err := s.Sites.SiteFor(r.Context(), p, tenantID, id, actionPublish)
	if err != nil {
		return err
	}
	nodes := resources.SiteNodes(site)
	node := ""
	if want := r.URL.Query().Get("node"); want != "" {
		for _, n := range nodes {
			if strings.EqualFold(n, want) {
				node = n
			}
		}
		if node == "" {
			return arm.E(errs.Invalid, "InvalidNode", "The site is not placed on node '%s'.", arm.Clip(want))
		}
	} else if len(nodes) > 0 {
		node = nodes[0]
	}
	if node == "" {
		return arm.E(errs.Conflict, "NotPlaced", "The site is not placed on a node (properties.lanyard.node): no agent runs it, so it has no output.")
	}
	if s.FollowLog == nil {
		return arm.E(errs.Unavailable, "LogStreamUnavailable", "This server does not stream sites' output.")
	}
	after := r.Header.Get("Last-Event-ID")
	ls, err := s.FollowLog(tenantID, p.Actor, node, site.ID, after, logStreamTail)
	if err != nil {
		return err
	}
	defer ls.Close()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 250\n\n")
	if rc.Flush() != nil {
		return nil
	}
	max := s.LogStreamMax
	if max <= 0 {
		max = DefaultLogStreamMax
	}
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	note := time.NewTimer(waitingNote)
	defer note.Stop()
	beat := time.NewTicker(15 * time.Second)
	defer beat.Stop()
	ended := ls.Ended()
	for {
		select {
		case line := <-ls.Lines():
			if line.Error != "" {
				// The node does not run the app: said once; the stream stays open (a reader that
				// reconnected at once would only ask again) until the reader or the deadline ends it.
				ended = nil
			}
			// This line and what is buffered already go out in one flush.
			if !writeLine(w, line) || !drain(w, ls) {
				return nil
			}
		case <-ended:
			// The node's stream ended (the agent went away or restarted): what it sent is
			// written, and the reader reconnects after its last line.
			if drain(w, ls) {
				_ = rc.Flush()
			}
			return nil
		case <-note.C:
			if !ls.Taken() {
				fmt.Fprintf(w, "event: status\ndata: waiting for the agent of node %s\n\n", oneLine(node))
			}
		case <-beat.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-deadline.C:
			return nil
		case <-r.Context().Done():
			return nil
		}
		if rc.Flush() != nil {
			return nil
		}
	}
}

// drain writes the lines buffered already, and reports whether the writes went through.
func drain(w http.ResponseWriter, ls LogStream) bool {
	for {
		select {
		case line := <-ls.Lines():
			if !writeLine(w, line) {
				return false
			}
		default:
			return true
		}
	}
}

// writeLine writes one line as an event; a LogLine with Error says the node has no such app.
func writeLine(w http.ResponseWriter, l agentapi.LogLine) bool {
	var err error
	if l.Error != "" {
		_, err = fmt.Fprintf(w, "event: status\ndata: %s\n\n", oneLine(l.Error))
	} else {
		_, err = fmt.Fprintf(w, "id: %s\ndata: %s\n\n", oneLine(l.ID), oneLine(l.Text))
	}
	return err == nil
}

// oneLine keeps a value on one line of the event stream.
func oneLine(s string) string { return strings.NewReplacer("\r", "", "\n", " ").Replace(s) }
