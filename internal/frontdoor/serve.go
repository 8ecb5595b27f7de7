package frontdoor

import (
	"net/http"
	"strconv"
	"time"
)

// ServeHTTP routes r by its host name: 404 for a host the front door does not serve, 503 while
// the site's app is starting or stopped, Easy Auth when the site has it, then the app.
func (f *FrontDoor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	e := f.lookup(r.Host)
	if e == nil {
		plain(w, http.StatusNotFound, "404 Not Found: no site is served here under the host name "+clipHost(r.Host)+".")
		return
	}
	info := &reqInfo{site: e, id: f.cfg.RequestID(), state: State(e.state.Load())}
	rec := &statusRecorder{ResponseWriter: w}
	defer f.finish(e, info, r, rec, start)
	stripUntrusted(r.Header)
	if info.state != Running {
		unavailable(rec, e.Name, info.state)
		return
	}
	if r.ContentLength > f.cfg.MaxBodyBytes {
		plain(rec, http.StatusRequestEntityTooLarge, "413 Request Entity Too Large: the body is over "+strconv.FormatInt(f.cfg.MaxBodyBytes, 10)+" bytes.")
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(rec, r.Body, f.cfg.MaxBodyBytes)
	}
	if e.Auth != nil && !f.easyAuth(rec, r, e, info) {
		return
	}
	if e.Handler != nil {
		e.Handler.ServeHTTP(rec, r)
		return
	}
	f.forward(rec, r, info)
}

// finish counts the request and writes its access log line.
func (f *FrontDoor) finish(e *entry, info *reqInfo, r *http.Request, rec *statusRecorder, start time.Time) {
	d := time.Since(start)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	e.count.observe(status, d)
	if e.AccessLog != nil {
		f.writeAccess(e, info, r, status, rec.bytes, d)
	}
}

func clipHost(h string) string {
	if len(h) > 100 {
		return h[:100] + "…"
	}
	return h
}
