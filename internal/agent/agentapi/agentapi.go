package agentapi

import (
	"fmt"
	"log/slog"
	"time"
)

// The paths of the agent API.
const (
	Prefix     = "/agent/v1"
	PathEnroll = Prefix + "/enroll"
	PathRenew  = Prefix + "/renew"
	PathToken  = Prefix + "/token"
	PathEvents = Prefix + "/events"
	PathSites  = Prefix + "/sites"
	// PathPackages + "/" + digest (sha256:<hex>) answers a function app's deployment package, a
	// zip, to a node that hosts a site deployed with it (application/zip).
	PathPackages = Prefix + "/packages"
	// PathTimerClaim claims one tick of a timer function for the calling node (TimerClaim in,
	// TimerClaimResponse out): exactly one node of those hosting the site is told to run it.
	PathTimerClaim = Prefix + "/timers/claim"
)

// The query parameters of PathEvents.
const (
	QueryAfter = "after" // the last Seq the agent has seen (Next of the previous answer); absent on its first call
	QueryWait  = "wait"  // how long the server may hold the call: a Go duration such as "30s"
)

// MaxWait is the longest wait a server honours on PathEvents; longer requests are shortened.
const MaxWait = 60 * time.Second

// Secret is a string that never prints: fmt, %v, %#v and slog all show "REDACTED". Its JSON
// form is the plain string.
type Secret string

// Redacted is what a Secret prints as.
const Redacted = "REDACTED"

func (Secret) String() string               { return Redacted }
func (Secret) GoString() string             { return `agentapi.Secret("` + Redacted + `")` }
func (Secret) LogValue() slog.Value         { return slog.StringValue(Redacted) }
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// EnrollRequest asks for a node's first client certificate.
type EnrollRequest struct {
	JoinToken Secret `json:"joinToken"` // the single-use token `lanyard node join-token create` printed
	CSR       []byte `json:"csr"`       // PKCS#10 request, DER (base64 in JSON); the key never leaves the node
	NodeName  string `json:"nodeName"`  // the name the agent goes by (its host name by default); the join token decides the node's name
}

// LogValue keeps the join token out of structured logs, which would otherwise marshal the
// request as JSON.
func (r EnrollRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("joinToken", Redacted), slog.Int("csrBytes", len(r.CSR)), slog.String("nodeName", r.NodeName))
}

// EnrollResponse is the node's identity and its first client certificate.
type EnrollResponse struct {
	Certificate       string `json:"certificate"`       // PEM: the client certificate, then its issuers up to the root
	NodeID            string `json:"nodeId"`            // the server's id for the node
	NodeName          string `json:"nodeName"`          // the node's name: the one its join token was made for
	MachineResourceID string `json:"machineResourceId"` // /subscriptions/…/providers/Microsoft.HybridCompute/machines/NAME
	TenantID          string `json:"tenantId"`
}

// RenewRequest asks for a new client certificate, made with the certificate the node holds. The
// CSR may carry a new key; the server keeps the subject it issued at enrollment.
type RenewRequest struct {
	CSR []byte `json:"csr"` // PKCS#10 request, DER (base64 in JSON)
}

// RenewResponse is the new client certificate.
type RenewResponse struct {
	Certificate string `json:"certificate"` // PEM chain, as in EnrollResponse
}

// SelectorKind says how a token request names the identity.
type SelectorKind string

// The selector kinds. System is the system-assigned identity of the app (or of the node's
// machine when App is empty); the others name a user-assigned identity, or the system-assigned
// one by its own ids.
const (
	SelectorSystem     SelectorKind = "system"
	SelectorClientID   SelectorKind = "client_id"
	SelectorObjectID   SelectorKind = "object_id"
	SelectorResourceID SelectorKind = "resource_id"
)

// Selector names the identity a token is for. Value is empty for SelectorSystem.
type Selector struct {
	Kind  SelectorKind `json:"kind"`
	Value string       `json:"value,omitempty"`
}

// TokenRequest asks for a token for one identity of an app placed on this node (App is the
// site's ARM id), or of the node itself (App is empty), for one resource.
type TokenRequest struct {
	App      string   `json:"app"`
	Selector Selector `json:"selector"`
	Resource string   `json:"resource"` // as the workload asked for it, with one trailing /.default removed
}

// TokenResponse is a minted token and what the agent needs to cache and answer with it.
type TokenResponse struct {
	AccessToken        string `json:"accessToken"`
	ExpiresOn          int64  `json:"expiresOn"` // unix seconds (the token's exp)
	NotBefore          int64  `json:"notBefore"` // unix seconds (the token's nbf)
	Resource           string `json:"resource"`
	ClientID           string `json:"clientId"`           // the identity's client (app) id
	ObjectID           string `json:"objectId"`           // the identity's service principal object id
	IdentityResourceID string `json:"identityResourceId"` // the user-assigned identity's ARM id, or the owner's for system-assigned
}

// The error codes of PathToken (in ErrorBody.Error.Code).
const (
	CodeIdentityNotFound = "identity_not_found" // 400: no such identity attached to the app (or node)
	CodeInvalidResource  = "invalid_resource"   // 400: the resource names no service principal
	CodeInvalidRequest   = "invalid_request"    // 400: malformed request
	CodeForbidden        = "Forbidden"          // 403: this node may not act for that app or identity
)

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// EventIdentityChanged says that tokens of PrincipalID may no longer say the truth (a role or
// role assignment changed, the identity was detached or deleted): drop them.
const EventIdentityChanged = "identity-changed"

// EventSiteChanged says that a site's settings the front door enforces (authsettingsV2) changed
// in the event's tenant: an agent with a front door reads its sites' settings again.
const EventSiteChanged = "site-changed"

// Event is one change the agent must act on.
type Event struct {
	Seq         int64  `json:"seq"`
	Kind        string `json:"kind"`
	PrincipalID string `json:"principalId,omitempty"`
}

// EventsResponse answers PathEvents: the events after the requested Seq, in order, and the Seq
// to ask after next time. Reset means "drop everything", after which Events may be empty.
type EventsResponse struct {
	Events []Event `json:"events"`
	Next   int64   `json:"next"`
	Reset  bool    `json:"reset,omitempty"`
}

// SitesRequest asks for what the front door needs of the sites an agent runs: their host names
// and Easy Auth settings, and, when CSR is set, a serving certificate for those host names.
type SitesRequest struct {
	Apps []string `json:"apps"`          // sites' ARM ids; at most MaxSites
	CSR  []byte   `json:"csr,omitempty"` // PKCS#10 request, DER (base64 in JSON); its names are ignored
}

// MaxSites bounds SitesRequest.Apps.
const MaxSites = 1000

// SitesResponse answers PathSites: one Site per requested app, in order, and the serving
// certificate (PEM chain) for the host names of the sites placed on the node.
type SitesResponse struct {
	Sites       []Site `json:"sites"`
	Certificate string `json:"certificate,omitempty"`
}

// Site is a site as the front door serves it. Error is set (and nothing else but App) when the
// node may not serve it: it is gone, or placed on another node.
type Site struct {
	App      string    `json:"app"`
	Name     string    `json:"name,omitempty"`
	HostName string    `json:"hostName,omitempty"` // the defaultHostName, {name}.{siteDomain}
	TenantID string    `json:"tenantId,omitempty"`
	Auth     *SiteAuth `json:"auth,omitempty"` // nil: Easy Auth is off
	// Kind is the site's ARM kind ("app", "functionapp", "functionapp,linux", ...).
	Kind string `json:"kind,omitempty"`
	// Settings are the site's app settings (config/appsettings), given to its processes as
	// environment variables; Key Vault references are resolved by the server (the literal
	// reference stays where resolution failed, as App Service does).
	Settings map[string]string `json:"settings,omitempty"`
	// Functions is set for a function app (Kind contains "functionapp").
	Functions *SiteFunctions `json:"functions,omitempty"`
	Error     string         `json:"error,omitempty"`
}

// SiteFunctions is what a node needs to host a function app.
type SiteFunctions struct {
	// Package is the deployed package; nil: nothing is deployed yet (the node serves 503).
	Package *Package `json:"package,omitempty"`
	// Keys are the app's function keys (secrets: never logged).
	Keys FunctionKeys `json:"keys"`
}

// Package names a deployment package by its content.
type Package struct {
	Digest string `json:"digest"` // "sha256:" + 64 lower-case hex digits of the zip
	Size   int64  `json:"size"`
}

// FunctionKeys are a function app's keys, Azure's scopes: the master key, host keys (function
// level for every function), system keys, and each function's own keys (by function name, then
// key name).
type FunctionKeys struct {
	Master    string                       `json:"masterKey"`
	Host      map[string]string            `json:"functionKeys,omitempty"`
	System    map[string]string            `json:"systemKeys,omitempty"`
	Functions map[string]map[string]string `json:"functions,omitempty"`
}

// TimerClaim asks to run one tick of a timer function of App on the calling node.
type TimerClaim struct {
	App      string    `json:"app"`      // the site's ARM id
	Function string    `json:"function"` // the function's name
	Tick     time.Time `json:"tick"`     // the scheduled time of the tick (UTC)
}

// TimerClaimResponse answers TimerClaim: Claimed is true for exactly one caller per tick.
type TimerClaimResponse struct {
	Claimed bool `json:"claimed"`
}

// SiteAuth is a site's Easy Auth (authsettingsV2) as the front door enforces it, checked by the
// server. Issuer tokens must carry is the token service's for IssuerTenant.
type SiteAuth struct {
	RequireAuthentication bool     `json:"requireAuthentication"`
	Action                string   `json:"unauthenticatedClientAction"` // AllowAnonymous, Return401, Return403
	ExcludedPaths         []string `json:"excludedPaths,omitempty"`
	RequireHTTPS          bool     `json:"requireHttps"`
	ClientID              string   `json:"clientId"`
	IssuerTenant          string   `json:"issuerTenant"`
	AllowedAudiences      []string `json:"allowedAudiences,omitempty"`
	AllowedApplications   []string `json:"allowedApplications,omitempty"`
	AllowedIdentities     []string `json:"allowedIdentities,omitempty"`
}

// The log follow of a remote app's output (docs/console.md, "Log stream"). The server does not
// dial agents: a console stream of an app on node N waits, in the memory of the server that
// holds it, for N's agent, which long-polls every server it knows for such requests
// (PathLogFollows) and answers each with a request of its own that streams the app's lines to
// that server (PathLogLines) until the server ends it.
const (
	// PathLogFollows answers the log follows waiting for the calling node (LogFollowsResponse),
	// held up to QueryWait (at most MaxWait) while there is none.
	PathLogFollows = Prefix + "/logs/follows"
	// PathLogLines takes the lines of one follow (QueryFollow): a POST whose body is a stream of
	// LogLine objects, one JSON object per line (application/x-ndjson). The server answers when
	// the follow ends (the console's stream went away) or the body ends.
	PathLogLines = Prefix + "/logs/lines"
	// QueryFollow names the follow (LogFollow.ID) on PathLogLines.
	QueryFollow = "follow"
	// PathSandboxCA answers the sandbox CA's certificate (SandboxCAResponse), which the agent
	// puts in its sandboxes' trust stores: the servers present it for Azure's names.
	PathSandboxCA = Prefix + "/sandbox-ca"
)

// SandboxCAResponse answers PathSandboxCA.
type SandboxCAResponse struct {
	Certificate string `json:"certificate"` // PEM
}

// LogFollow asks the agent for an app's output.
type LogFollow struct {
	ID  string `json:"id"`  // the follow's id, for PathLogLines
	App string `json:"app"` // the site's ARM id, as the agent's configuration names it
	// After is the position of the last line the reader has ("{inode}:{offset}"): the lines
	// after it are wanted. Empty: the last Tail lines, then what comes.
	After string `json:"after,omitempty"`
	Tail  int    `json:"tail,omitempty"`
}

// LogFollowsResponse answers PathLogFollows.
type LogFollowsResponse struct {
	Follows []LogFollow `json:"follows"`
}

// LogLine is one line of an app's output, sent on PathLogLines: its text (without the line
// end) and the position after it in the agent's log ("{inode}:{offset}"), the id a reader
// resumes after. A line with an empty ID and Text tells the server that the app's log is not on
// this node (Error says why).
type LogLine struct {
	ID    string `json:"id,omitempty"`
	Text  string `json:"text"`
	Error string `json:"error,omitempty"`
}

// MaxLogFollows bounds the follows of one node that one server holds at a time.
const MaxLogFollows = 16
