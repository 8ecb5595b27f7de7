// Package frontdoor is the inbound HTTP of sites, as App Service's front end is for Azure: a
// request for https://{site}.{siteDomain}[:port] is routed by its host name to the site's app,
// which listens on 127.0.0.1:$PORT, through a reverse proxy that passes HTTP/1.1, HTTP/2,
// WebSockets and streamed bodies; it sets the forwarding headers App Service sets (and never
// trusts a client's copies), bounds the request body and the wait for the app's answer, answers
// 502 when the app fails and 503 while it is starting or stopped, writes an access log per site
// and counts requests per site.
//
// Most requests are proxied on a direct path (forward.go): the serving goroutine writes the
// request on a pooled keep-alive connection to the app and reads the answer with net/http's
// parser (package backend). Upgrades (WebSockets), CONNECT, Expect: 100-continue, request
// trailers and request bodies of unknown length or over 64 KiB go through
// httputil.ReverseProxy instead. Both paths share the forwarding headers and failure answers.
//
// With Easy Auth (a site's authsettingsV2) on, it validates the caller's bearer token before the
// app sees the request, as App Service Authentication does: signature against the tenant's
// published keys (JWKS), issuer, audience, lifetime, then the allowedApplications and
// allowedPrincipals policies; it removes every X-MS-CLIENT-PRINCIPAL* and X-MS-TOKEN-* header a
// client sent and adds the platform's own, and serves /.auth/me.
//
// It owns neither the processes (the agent supervises them and tells the front door their
// state) nor the settings (the server keeps authsettingsV2; the agent fetches it). Which parts
// are Azure's behaviour and which are Lanyard's own is said where each is decided.
package frontdoor
