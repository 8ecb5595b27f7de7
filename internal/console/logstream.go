package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/logtail"
)

// Log stream: an app's output, live, as server-sent events. The agent writes each app's stdout
// and stderr to a file in its state directory and rotates it (one old file, NAME.log.1). Every
// event carries the position after its line as its id, "{inode}:{offset}", and the browser sends
// the last one back when it reconnects (Last-Event-ID): the stream resumes right after the last
// line the page got, so nothing is lost or repeated, also when the file was rotated meanwhile.
//
// An app whose agent runs on this host (lanyard dev: SetAppLogs) is read from its files here.
// Any other app's stream is the site's log stream of the management API ({site}/logstream,
// internal/appservice), called in-process as the session like every other API: the server asks
// the agent of the app's node for the lines through the agent API (docs/console.md). Both need
// the right to publish to the site (LogAccess for the files read here).

// pollInterval is how often the stream looks for new lines.
const pollInterval = 150 * time.Millisecond

// DefaultStreamMax is how long one event stream stays open before the server ends it and the
// browser reconnects (resuming where it was).
const DefaultStreamMax = 5 * time.Minute

// tailLines is how many lines of the existing log a new stream starts with.
const tailLines = 100

func (c *Console) logStream(w http.ResponseWriter, r *http.Request, s *current) error {
	site, _, err := c.getSite(r.Context(), c.api(s), r)
	if err != nil {
		return err
	}
	node := siteNode(site)
	_, local := c.appLog(site.Name, node)
	return c.render(w, r, "logstream.html", &page{Title: site.Name + " | Log stream", Nav: kindKey(site.Kind), Crumb: siteCrumb(site),
		Data: map[string]any{"Site": site, "Group": groupOf(site.ID), "Local": local, "Node": node}})
}

// siteNode is the node a site is placed on (the first of several), or "".
func siteNode(site client.Resource) string {
	var props struct {
		Lanyard struct {
			Node  string   `json:"node"`
			Nodes []string `json:"nodes"`
		} `json:"lanyard"`
	}
	properties(site, &props)
	if props.Lanyard.Node != "" {
		return props.Lanyard.Node
	}
	if len(props.Lanyard.Nodes) > 0 {
		return props.Lanyard.Nodes[0]
	}
	return ""
}

// logSource is where the Log stream reads the output of the apps of this host's agent.
type logSource struct {
	path      func(site, node string) (string, bool)
	streamMax time.Duration
}

// SetAppLogs tells the Log stream where the agent on this host keeps an app's output: path
// returns the file of the site named site placed on node (node "" when it is placed on none),
// and whether this host's agent runs it; the other apps' output is asked of their node's agent
// through the API. streamMax is how long one event stream stays open before the browser
// reconnects (DefaultStreamMax when 0). Safe to call while serving.
func (c *Console) SetAppLogs(path func(site, node string) (string, bool), streamMax time.Duration) {
	c.logs.Store(&logSource{path: path, streamMax: streamMax})
}

func (c *Console) appLog(name, node string) (string, bool) {
	src := c.logs.Load()
	if src == nil || src.path == nil {
		return "", false
	}
	return src.path(name, node)
}

func (c *Console) logEvents(w http.ResponseWriter, r *http.Request, s *current) error {
	site, path, err := c.getSite(r.Context(), c.api(s), r) // the session may read this site
	if err != nil {
		return err
	}
	file, ok := c.appLog(site.Name, siteNode(site))
	if !ok {
		c.remoteEvents(w, r, s, path)
		return nil
	}
	// Reading the site is not enough to read its output (it often holds secrets): the same rule
	// as the API's log stream, which the remote apps' streams go through.
	if c.LogAccess == nil {
		return errs.E(errs.Unavailable, "this server does not stream this app's output")
	}
	if err := c.LogAccess(r.Context(), s.principal(), s.TenantID, site.ID); err != nil {
		return err
	}
	rc := http.NewResponseController(w) // reaches the connection through the middleware's writer
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 250\n\n")
	if err := rc.Flush(); err != nil {
		return nil
	}

	pos, resumed := logtail.ParsePosition(r.Header.Get("Last-Event-ID"))
	if !resumed {
		pos = logtail.Start(file, tailLines)
	}
	deadline := time.NewTimer(c.streamMax())
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		var err error
		if pos, err = logtail.Read(file, pos, func(text string, after logtail.Position) error {
			_, err := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", after, text)
			return err
		}); err != nil {
			return nil // the client is gone, or the file cannot be read: end the stream
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-deadline.C:
			return nil
		case <-tick.C:
		}
	}
}

func (c *Console) streamMax() time.Duration {
	if src := c.logs.Load(); src != nil && src.streamMax > 0 {
		return src.streamMax
	}
	return DefaultStreamMax
}

// remoteEvents serves the stream of an app on another node: the management API's site log
// stream ({site}/logstream), called in-process as the session, written straight through (it is
// already server-sent events, with the same ids). The API authorises the session again.
func (c *Console) remoteEvents(w http.ResponseWriter, r *http.Request, s *current, sitePath string) {
	q := url.Values{"api-version": {client.APIVersionSites}}
	u := strings.TrimRight(c.PublicURL, "/") + sitePath + "/logstream?" + q.Encode()
	in, err := http.NewRequestWithContext(authn.WithPrincipal(r.Context(), s.principal()), http.MethodGet, u, nil)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	in.RemoteAddr, in.RequestURI, in.Host = s.remote, in.URL.RequestURI(), in.URL.Host
	if s.TenantID != "" {
		in.Header.Set(client.TenantHeader, s.TenantID)
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		in.Header.Set("Last-Event-ID", id)
	}
	in.Header.Set("Accept", "text/event-stream")
	c.API.ServeHTTP(w, in)
}
