package lanyardtest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent"
)

// Agent is a node agent enrolled with an Env's server, running in-process.
type Agent struct {
	*agent.Agent
	Config agent.Config
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// StartAgent enrolls a node called name with a fresh join token and runs its agent for the
// duration of t. cfg may set apps, listeners, throttling and the server's URL (default the Env's);
// the CA, join token, state directory and node name are filled in.
func (e *Env) StartAgent(t testing.TB, name string, cfg agent.Config) *Agent {
	t.Helper()
	ctx := context.Background()
	jt, err := e.Admin.CreateJoinToken(ctx, name, "")
	if err != nil {
		t.Fatalf("join token: %v", err)
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, e.Server.CA.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(dir, "join-token")
	if err := os.WriteFile(tokFile, []byte(jt.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg.ServerURL == "" {
		cfg.ServerURL = e.URL
	}
	cfg.CAFile, cfg.JoinTokenFile, cfg.NodeName = caFile, tokFile, name
	if cfg.Sandbox == "" {
		cfg.Sandbox = agent.SandboxOff // a test that wants sandboxes says so
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(dir, "state")
	}
	if cfg.Log == nil {
		cfg.Log = e.log
	}
	return RunAgent(t, cfg)
}

// RunAgent runs an agent with cfg (enrolled already, or enrolling with cfg.JoinTokenFile) for
// the duration of t, or until Stop.
func RunAgent(t testing.TB, cfg agent.Config) *Agent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := agent.New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatalf("agent: %v", err)
	}
	ag := &Agent{Agent: a, Config: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { ag.done <- a.Run(ctx) }()
	t.Cleanup(ag.Stop)
	return ag
}

// Stop stops the agent and waits for it (up to 15 s).
func (a *Agent) Stop() {
	a.once.Do(func() {
		a.cancel()
		select {
		case <-a.done:
		case <-time.After(15 * time.Second):
		}
	})
}
