package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/pki"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// This file is the only fake: a small server implementing the agentapi contract with a real CA.

// caStore is a pki.Store in memory.
type caStore struct {
	mu  sync.Mutex
	rec *pki.CARecord
}

func (m *caStore) GetCA(context.Context) (pki.CARecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rec == nil {
		return pki.CARecord{}, errs.E(errs.NotFound, "no CA")
	}
	return *m.rec, nil
}

func (m *caStore) CreateCA(_ context.Context, rec pki.CARecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rec = &rec
	return nil
}

// stubIdentity is an identity the stub mints for: the app's (or the node's, app "") system one,
// or a user-assigned one attached to it.
type stubIdentity struct {
	app                  string
	system               bool
	oid, clientID, resID string
}

const (
	siteA      = "/subscriptions/sub1/resourceGroups/rg/providers/Microsoft.Web/sites/app-a"
	siteB      = "/subscriptions/sub1/resourceGroups/rg/providers/Microsoft.Web/sites/app-b"
	siteElse   = "/subscriptions/sub1/resourceGroups/rg/providers/Microsoft.Web/sites/elsewhere" // placed on another node
	uaResID    = "/subscriptions/sub1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ua1"
	unknownRes = "https://unknown.example"
)

// stub is the control plane's agent API, as far as the agent can tell.
type stub struct {
	t        testing.TB
	ca       *pki.CA
	srv      *httptest.Server
	mux      *http.ServeMux // a test may add the routes it needs
	caFile   string
	lifetime time.Duration // of tokens
	certLife time.Duration // of client certificates

	mu         sync.Mutex
	joinTokens map[string]bool
	identities []stubIdentity
	hold       chan struct{} // when set, /token waits until it is closed
	seq        int64
	events     []agentapi.Event
	changed    chan struct{} // closed and replaced at each event
	done       chan struct{}
	stopped    bool

	tokenCalls atomic.Int64
	enrolls    atomic.Int64
	renewals   atomic.Int64
	minted     atomic.Int64
}

func newStub(t testing.TB) *stub {
	t.Helper()
	return newStubWith(t, false)
}

// newStubWith is newStub serving HTTP/2 too when h2 is set, as the real server does (the
// benchmarks of the token client's transports).
func newStubWith(t testing.TB, h2 bool) *stub {
	t.Helper()
	raw := make([]byte, seal.KeySize)
	rand.Read(raw)
	kek, err := seal.ParseKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadOrCreateCA(t.Context(), &caStore{}, kek, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &stub{
		t: t, ca: ca, lifetime: time.Hour, certLife: 24 * time.Hour,
		joinTokens: map[string]bool{}, changed: make(chan struct{}), done: make(chan struct{}),
		identities: []stubIdentity{
			{app: "", system: true, oid: "00000000-0000-0000-0000-00000000000a", clientID: "c0000000-0000-0000-0000-00000000000a",
				resID: "/subscriptions/sub1/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/node1"},
			{app: "", oid: "00000000-0000-0000-0000-0000000000ab", clientID: "c0000000-0000-0000-0000-0000000000ab", resID: uaResID},
			{app: siteA, system: true, oid: "00000000-0000-0000-0000-000000000001", clientID: "c0000000-0000-0000-0000-000000000001", resID: siteA},
			{app: siteA, oid: "00000000-0000-0000-0000-0000000000ab", clientID: "c0000000-0000-0000-0000-0000000000ab", resID: uaResID},
			{app: siteB, system: true, oid: "00000000-0000-0000-0000-000000000002", clientID: "c0000000-0000-0000-0000-000000000002", resID: siteB},
			{app: siteElse, system: true, oid: "00000000-0000-0000-0000-000000000003", clientID: "c0000000-0000-0000-0000-000000000003", resID: siteElse},
		},
	}
	serving, err := ca.IssueServing(nil, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+agentapi.PathEnroll, s.enroll)
	mux.HandleFunc("POST "+agentapi.PathRenew, s.renew)
	mux.HandleFunc("POST "+agentapi.PathToken, s.token)
	mux.HandleFunc("GET "+agentapi.PathEvents, s.eventsPoll)
	s.mux = mux
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*serving}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.Pool()}
	s.srv.EnableHTTP2 = h2
	s.srv.StartTLS()
	s.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(s.caFile, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// stop makes the server unreachable: long polls end, the listener closes.
func (s *stub) stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	close(s.done)
	s.mu.Unlock()
	s.srv.Close()
}

// joinTokenFile makes a join token and writes it to a file.
func (s *stub) joinTokenFile(t testing.TB) (string, string) {
	b := make([]byte, 24)
	rand.Read(b)
	tok := "jt-" + base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	s.joinTokens[tok] = true
	s.mu.Unlock()
	f := filepath.Join(t.TempDir(), "join-token")
	if err := os.WriteFile(f, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f, tok
}

// emit publishes an event.
func (s *stub) emit(kind, principal string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.events = append(s.events, agentapi.Event{Seq: s.seq, Kind: kind, PrincipalID: principal})
	close(s.changed)
	s.changed = make(chan struct{})
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	var body agentapi.ErrorBody
	body.Error.Code, body.Error.Message = code, msg
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (s *stub) chain(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) + string(s.ca.CertPEM())
}

func (s *stub) enroll(w http.ResponseWriter, r *http.Request) {
	var req agentapi.EnrollRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, 400, "invalid_request", err.Error())
		return
	}
	s.mu.Lock()
	ok := s.joinTokens[string(req.JoinToken)]
	delete(s.joinTokens, string(req.JoinToken))
	s.mu.Unlock()
	if !ok {
		fail(w, 401, "InvalidJoinToken", "the join token is unknown, expired or already used")
		return
	}
	der, err := s.ca.SignClientCSR(req.CSR, "node:"+req.NodeName, s.certLife)
	if err != nil {
		fail(w, 400, "invalid_request", errs.Message(err))
		return
	}
	s.enrolls.Add(1)
	answer(w, agentapi.EnrollResponse{Certificate: s.chain(der), NodeID: "node-id-1", TenantID: "tenant-1",
		MachineResourceID: "/subscriptions/sub1/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/" + req.NodeName})
}

func (s *stub) node(w http.ResponseWriter, r *http.Request) bool {
	if len(r.TLS.PeerCertificates) == 0 {
		fail(w, 401, "Unauthenticated", "a client certificate is required")
		return false
	}
	return true
}

func (s *stub) renew(w http.ResponseWriter, r *http.Request) {
	if !s.node(w, r) {
		return
	}
	var req agentapi.RenewRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, 400, "invalid_request", err.Error())
		return
	}
	der, err := s.ca.SignClientCSR(req.CSR, r.TLS.PeerCertificates[0].Subject.CommonName, s.certLife)
	if err != nil {
		fail(w, 400, "invalid_request", errs.Message(err))
		return
	}
	s.renewals.Add(1)
	answer(w, agentapi.RenewResponse{Certificate: s.chain(der)})
}

// tokenPad makes tokens as long as a real JWT (about 1.2 kB).
var tokenPad = strings.Repeat("x", 1100)

func (s *stub) token(w http.ResponseWriter, r *http.Request) {
	if !s.node(w, r) {
		return
	}
	s.tokenCalls.Add(1)
	var req agentapi.TokenRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, 400, agentapi.CodeInvalidRequest, err.Error())
		return
	}
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-s.done:
			return
		}
	}
	if req.App == siteElse {
		fail(w, 403, agentapi.CodeForbidden, "this node may not act for "+req.App)
		return
	}
	var id *stubIdentity
	for i, c := range s.identities {
		if c.app != req.App {
			continue
		}
		v := strings.TrimSpace(req.Selector.Value) // compared as the server does (nodes' pick)
		if req.Selector.Kind == agentapi.SelectorSystem && c.system ||
			req.Selector.Kind == agentapi.SelectorClientID && strings.EqualFold(v, c.clientID) ||
			req.Selector.Kind == agentapi.SelectorObjectID && strings.EqualFold(v, c.oid) ||
			req.Selector.Kind == agentapi.SelectorResourceID && c.resID != "" && strings.EqualFold(strings.TrimRight(v, "/"), c.resID) {
			id = &s.identities[i]
			break
		}
	}
	if id == nil {
		fail(w, 400, agentapi.CodeIdentityNotFound, "no such identity on this app")
		return
	}
	if req.Resource == unknownRes {
		fail(w, 400, agentapi.CodeInvalidResource, "AADSTS500011: the resource "+req.Resource+" names no service principal in the tenant")
		return
	}
	n := s.minted.Add(1)
	now := time.Now()
	answer(w, agentapi.TokenResponse{
		AccessToken: fmt.Sprintf("eyJ.%d.%s.%s.%s", n, id.oid, base64.RawURLEncoding.EncodeToString([]byte(req.Resource)), tokenPad),
		ExpiresOn:   now.Add(s.lifetime).Unix(), NotBefore: now.Unix(), Resource: req.Resource,
		ClientID: id.clientID, ObjectID: id.oid, IdentityResourceID: id.resID,
	})
}

func (s *stub) eventsPoll(w http.ResponseWriter, r *http.Request) {
	if !s.node(w, r) {
		return
	}
	first := !r.URL.Query().Has(agentapi.QueryAfter)
	after, _ := strconv.ParseInt(r.URL.Query().Get(agentapi.QueryAfter), 10, 64)
	wait, err := time.ParseDuration(r.URL.Query().Get(agentapi.QueryWait))
	if err != nil {
		fail(w, 400, "invalid_request", "wait")
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		seq, changed := s.seq, s.changed
		var out []agentapi.Event
		for _, e := range s.events {
			if e.Seq > after {
				out = append(out, e)
			}
		}
		s.mu.Unlock()
		if first {
			answer(w, agentapi.EventsResponse{Events: []agentapi.Event{}, Next: seq, Reset: true})
			return
		}
		if len(out) > 0 {
			answer(w, agentapi.EventsResponse{Events: out, Next: seq})
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			answer(w, agentapi.EventsResponse{Events: []agentapi.Event{}, Next: after})
			return
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

// syncBuffer is a log destination tests read back.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testAgent is a running agent and what a test needs around it.
type testAgent struct {
	*Agent
	logs      *syncBuffer
	joinToken string
	cancel    context.CancelFunc
	done      chan error
}

// startAgent enrolls a new node with the stub, runs its agent, and waits until it follows the
// stub's events. mutate, if not nil, changes the configuration first.
func startAgent(t testing.TB, s *stub, mutate func(*Config)) *testAgent {
	t.Helper()
	jtFile, jt := s.joinTokenFile(t)
	logs := &syncBuffer{}
	cfg := Config{
		ServerURL: s.srv.URL, CAFile: s.caFile, JoinTokenFile: jtFile, StateDir: filepath.Join(t.TempDir(), "state"),
		NodeName: "node1", Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sandbox: SandboxOff, // the stub serves no cloud metadata; the sandbox is tested against a real server
	}
	if mutate != nil {
		mutate(&cfg)
	}
	return runAgent(t, cfg, logs, jt)
}

func runAgent(t testing.TB, cfg Config, logs *syncBuffer, jt string) *testAgent {
	t.Helper()
	a, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{Agent: a, logs: logs, joinToken: jt, cancel: cancel, done: make(chan error, 1)}
	go func() { ta.done <- a.Run(ctx) }()
	t.Cleanup(ta.stop)
	select {
	case <-a.synced:
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not reach the stub's events")
	}
	return ta
}

func (ta *testAgent) stop() {
	ta.cancel()
	if err := <-ta.done; err != nil {
		panic(err)
	}
	ta.done <- nil
}

// clock is a settable clock for the agent: the real time plus an offset, or frozen.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
	frozen time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen
	}
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
	if !c.frozen.IsZero() {
		c.frozen = c.frozen.Add(d)
	}
}
