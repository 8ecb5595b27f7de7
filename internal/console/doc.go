// Package console is Lanyard's web console: server-rendered pages (html/template, assets embedded
// with embed.FS, no script toolchain and nothing fetched at run time), served under /console/ on
// the control plane's HTTPS listener.
//
// It owns the console's sign-in (single-use login links made on the admin socket, and the
// server-side sessions they open), CSRF protection, the security headers of its pages, and the
// pages themselves. It does not own any resource: every page reads and every form changes state
// through Lanyard's public APIs (the management, directory, vault and admin APIs, through the
// public client package), sent in-process to the same handler the HTTPS listener serves, with the
// session's principal as the caller. The console therefore has the authorization of its session
// and no other, and every change is audited by the API that makes it, with the session
// ("console:{session id}") as the actor. It imports no domain package (a test in internal/lint
// checks that).
package console
