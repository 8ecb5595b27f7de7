package loadtest

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSIGKILLUnderReadLoad: 16 clients read a secret from the real server as fast as they can;
// the server is killed with SIGKILL in the middle. After a restart on the same data, every read
// that was answered 200 before the kill has its audit record (found by the request id the answer
// carried), and the audit chain verifies.
func TestSIGKILLUnderReadLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	s := startStack(t, stackOptions{noAgent: true})
	ctx := context.Background()
	// A principal to read as: an application's service principal.
	var app struct {
		AppID string `json:"appId"`
	}
	if err := s.admin.Graph(ctx, http.MethodPost, "/v1.0/applications", map[string]any{"displayName": "reader"}, &app); err != nil {
		t.Fatal(err)
	}
	var sp struct {
		ID string `json:"id"`
	}
	if err := s.admin.Graph(ctx, http.MethodPost, "/v1.0/servicePrincipals", map[string]any{"appId": app.AppID}, &sp); err != nil {
		t.Fatal(err)
	}
	host := s.createVault("kvcrash", sp.ID)
	tok, err := s.admin.MintToken(ctx, sp.ID, "https://vault.azure.net", "")
	if err != nil {
		t.Fatal(err)
	}
	const clients = 16
	hc := s.client(strings.Split(host, ":")[0], clients)
	u := "https://" + host + "/secrets/conn?api-version=7.4"

	var mu sync.Mutex
	var answered []string // request ids of the reads answered 200
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				resp, err := hc.Do(req)
				if err != nil {
					continue // the server is gone (or going)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				// Only a complete 200 answer counts as answered: one cut off by the kill
				// did not reach the client.
				if err == nil && resp.StatusCode == 200 && strings.Contains(string(body), `"value":"ssss`) {
					mu.Lock()
					answered = append(answered, resp.Header.Get("x-ms-request-id"))
					mu.Unlock()
				}
			}
		})
	}
	// Kill it once it has answered a good number of reads.
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(answered)
		mu.Unlock()
		if n >= 2000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.server.kill()
	close(stop)
	wg.Wait()
	hc.CloseIdleConnections()
	if len(answered) == 0 {
		t.Fatal("no read was answered before the kill")
	}

	// What the killed server left in its audit journal (store/auditjournal.go), folded by the
	// restart before it serves.
	var journaled int64
	segs, _ := filepath.Glob(filepath.Join(s.dir, "data", "lanyard.db-audit-*.log"))
	for _, name := range segs {
		if fi, err := os.Stat(name); err == nil {
			journaled += fi.Size()
		}
	}
	s.startServer(stackOptions{})
	audited := map[string]bool{}
	var after int64
	for {
		evs, err := s.admin.ListAudit(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Action == "vault.secret.get" && e.Result == "success" {
				audited[e.RequestID] = true
			}
			after = e.Seq
		}
		if len(evs) < 1000 {
			break
		}
	}
	lost := 0
	for _, id := range answered {
		if !audited[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d reads answered before SIGKILL have no audit record after the restart", lost, len(answered))
	}
	v, err := s.admin.VerifyAudit(ctx)
	if err != nil || !v.OK {
		t.Errorf("audit verify after the kill: %+v %v", v, err)
	}
	t.Logf("%d reads answered before SIGKILL, %d audited reads in the store, none lost (%d bytes of the audit journal were folded at the restart)", len(answered), len(audited), journaled)
}
