// Package agent is the node agent, `lanyard agent`: the host-local half of Lanyard that hands
// tokens to workloads, which never hold a secret of their own.
//
// It owns:
//   - enrollment: an ECDSA P-256 key made on the node (it never leaves), a CSR sent once with a
//     single-use join token, the client certificate kept in the state directory (mode 0600) and
//     renewed at half-life with the certificate it holds (state.go);
//   - the client of the server's agent API, over mutual TLS (upstream.go; the wire types are in
//     agentapi);
//   - the host-local identity endpoints: App Service style (/msi/token, a per-app header compared
//     in constant time, api-versions 2019-08-01 and 2017-09-01) for the apps it runs, and IMDS
//     style (/metadata/identity/oauth2/token, Metadata: true, no X-Forwarded-For) for the node's
//     own identities, on loopback or on 169.254.169.254 through a dummy interface (endpoint.go,
//     imds_linux.go);
//   - the token cache: per (app, identity, resource), single flight, refreshed ahead of expiry,
//     dropped when the server says an identity changed, served while the server is unreachable
//     (cache.go; the events long poll is in agent.go), and per-app throttling (throttle.go);
//   - the app supervisor: runs the configured apps with their identity in the environment,
//     restarts them with backoff, keeps a bounded log of each (apps.go, applog.go);
//   - function apps: a site of kind functionapp with a deployed package (or an app with a script
//     root, AppConfig.Functions) is hosted in-process by a function host (package functions)
//     behind the front door; the package is fetched over mutual TLS, its digest checked, unpacked
//     safely (package pkgzip) and switched to once its host is ready, the old version drained
//     first; the host gets the app's identity environment, settings, keys, Key Vault reads,
//     timer claims, sandbox and log (functions.go, functions_keys.go; docs/functionapp-deploy.md);
//   - its own metrics registry (/metrics) and /healthz.
//
// It does not decide who may have which token: the server does, for every mint (internal/nodes).
// It does not parse or verify tokens; it stores the raw string and the few fields the endpoints
// answer with. It does not build the command line (internal/cli wires `lanyard agent`).
package agent
