package frontdoor

import (
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/lanyardhq/lanyard/internal/frontdoor/backend"
)

// maxDirectBody is the largest request body sent on the direct path; a larger one goes through
// ReverseProxy, whose Transport reads the answer while it writes (backend.MaxBody says why).
const maxDirectBody = backend.MaxBody

// forward sends r to the site's app and relays the answer. Most requests take the direct path
// (package backend: the request written and the answer read in this goroutine, on a pooled
// keep-alive connection); what that path does not cover goes through httputil.ReverseProxy:
// WebSockets and other upgrades, CONNECT, Expect: 100-continue, request trailers, and bodies of
// unknown length or over maxDirectBody. Both paths set the same forwarding headers and give the
// same failure answers.
func (f *FrontDoor) forward(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	if f.viaReverseProxy || !direct(r) {
		f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, info)))
		return
	}
	h := r.Header // the front door's to change: the server has read what it needs of it
	removeHopByHop(h)
	uri := r.URL.RequestURI()
	setForwarded(h, r, info, uri)
	req := backend.Request{Method: r.Method, URI: uri, Host: r.Host, Header: h, HeaderTimeout: f.cfg.RequestTimeout,
		Got1xx: func(code int, h1 http.Header) {
			// 103 Early Hints and the like, passed on as ReverseProxy does
			dst := w.Header()
			for k, v := range h1 {
				dst[k] = v
			}
			w.WriteHeader(code)
			clear(dst)
		}}
	if r.ContentLength > 0 {
		req.Body, req.ContentLength = r.Body, r.ContentLength
	}
	resp, err := info.site.pool.RoundTrip(r.Context(), &req)
	if err != nil {
		f.failed(w, r, info, err)
		return
	}
	removeHopByHop(resp.Header)
	dst := w.Header()
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		dst["Trailer"] = []string{strings.Join(names, ", ")}
	}
	for k, v := range resp.Header {
		dst[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	// A streamed answer (no length, or server-sent events) is flushed at each write, as
	// ReverseProxy does; a sized one goes out when the server's buffer fills or at the end.
	flush := resp.ContentLength < 0 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	if err := copyBody(w, resp.Body, flush); err != nil {
		// The head is gone: the client must not take a cut answer for a whole one, so its
		// connection (or HTTP/2 stream) is reset, as ReverseProxy does.
		f.cfg.Log.Debug("front door: the answer was cut", "site", info.site.Name, "request_id", info.id, "error", err.Error())
		resp.Body.Close()
		panic(http.ErrAbortHandler)
	}
	resp.Body.Close()
	for k, v := range resp.Trailer {
		dst[http.TrailerPrefix+k] = v
	}
}

// direct reports whether r can take the direct path.
func direct(r *http.Request) bool {
	if r.Method == http.MethodConnect || r.Trailer != nil || r.ContentLength < 0 || r.ContentLength > maxDirectBody {
		return false
	}
	if _, ok := r.Header["Upgrade"]; ok {
		return false
	}
	if _, ok := r.Header["Expect"]; ok {
		return false
	}
	return true
}

// hopByHop are the headers of one connection (RFC 9110 §7.6.1), not passed through, with
// those a Connection header names. "Te: trailers" is kept, as ReverseProxy does.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				delete(h, http.CanonicalHeaderKey(name))
			}
		}
	}
	for _, k := range hopByHop {
		if _, ok := h[k]; !ok {
			continue
		}
		if k == "Te" && len(h[k]) == 1 && strings.EqualFold(h[k][0], "trailers") {
			continue
		}
		delete(h, k)
	}
}

// copyBody copies an answer's body to the client with a pooled buffer. It fails when either
// side fails.
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) error {
	buf := bufferPool{}.Get()
	defer bufferPool{}.Put(buf)
	fl, _ := w.(http.Flusher)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
			if flush && fl != nil {
				fl.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}
