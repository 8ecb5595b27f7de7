// Package agentapi is the wire contract between the node agent (internal/agent) and the server's
// agent API (internal/nodes): the paths under /agent/v1, the JSON bodies, the error codes and the
// event kinds. It holds types and constants only, so that both sides compile against one
// definition; it does no I/O and imports nothing of Lanyard's.
//
// All calls are HTTPS to the control plane, trusting Lanyard's CA. Enroll is authorised by a
// single-use join token; every other call by the node's client certificate (mutual TLS), whose
// subject the server issued at enrollment. Errors are Lanyard's plain shape,
// {"error":{"code":"…","message":"…"}} (ErrorBody).
//
//	POST /agent/v1/enroll   EnrollRequest → EnrollResponse    (no client certificate)
//	  401 or 403 when the join token is unknown, expired or already used.
//	POST /agent/v1/renew    RenewRequest → RenewResponse      (client certificate)
//	POST /agent/v1/token    TokenRequest → TokenResponse      (client certificate)
//	  400 identity_not_found | invalid_resource | invalid_request; 403 Forbidden when this node
//	  may not act for that app or identity; 5xx when the server cannot mint.
//	GET  /agent/v1/events?[after=N&]wait=30s → EventsResponse (client certificate, long poll)
//
// Events: the server numbers the changes that affect tokens (an app role or role assignment
// added or removed, an identity detached or deleted, a system-assigned identity turned off) with
// one increasing sequence number across replicas and tells each agent about those that concern
// the identities it may act for. A call with after=N answers as soon as there is an event with a
// Seq greater than N, or with no events once wait has passed (Next unchanged). Sequence numbers
// start at 1, so after=0 asks for everything. A first call, without after, answers at once with
// the current Next (0 when nothing happened yet) and Reset set. When the server can no longer
// tell what happened after N (the gap is older than it keeps), it answers with Reset: the agent
// drops every cached token. An agent drops the cached tokens of an event's PrincipalID.
package agentapi
