package compat

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// Cold mints: what a token cache miss costs, against raw RS256 signing on the same cores in the
// same run.
//
//	go test -run '^$' -bench ColdMint -benchtime 3s -count 3 ./internal/compat
//
// "agent-api" is the call an agent makes on a miss: a POST to /agent/v1/token over mutual TLS
// (keep-alive), the node's certificate looked up, the site's placement and identity read, the
// directory's three lookups, an RS256 signature. "raw-rs256" hashes and signs a token-sized input
// with crypto/rsa and nothing else. Both run on every core (RunParallel); compare ns/op.
func BenchmarkColdMint(b *testing.B) {
	b.Run("raw-rs256", func(b *testing.B) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			b.Fatal(err)
		}
		in := []byte(strings.Repeat("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9", 30))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h := sha256.Sum256(in)
				if _, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mints/s")
	})
	b.Run("agent-api", func(b *testing.B) {
		env := lanyardtest.Start(b, lanyardtest.Options{})
		ctx := context.Background()
		do := func(method, path string, in, out any) {
			if err := env.Admin.Do(ctx, method, path, in, out); err != nil {
				b.Fatalf("%s %s: %v", method, path, err)
			}
		}
		var subs struct {
			Value []struct {
				SubscriptionID string `json:"subscriptionId"`
			} `json:"value"`
		}
		do(http.MethodGet, "/subscriptions?api-version=2022-12-01", nil, &subs)
		group := "/subscriptions/" + subs.Value[0].SubscriptionID + "/resourceGroups/bench"
		do(http.MethodPut, group+"?api-version="+vRG, map[string]any{"location": "local"}, nil)
		site := group + "/providers/Microsoft.Web/sites/bench-app"
		do(http.MethodPut, site+"?api-version="+vWeb, map[string]any{"location": "local", "kind": "app",
			"identity": map[string]any{"type": "SystemAssigned"}, "properties": map[string]any{"lanyard": map[string]string{"node": "bench"}}}, nil)
		var app struct {
			AppID string `json:"appId"`
		}
		do(http.MethodPost, "/v1.0/applications", map[string]any{"displayName": "bench api", "identifierUris": []string{"api://bench"}}, &app)
		do(http.MethodPost, "/v1.0/servicePrincipals", map[string]any{"appId": app.AppID}, nil)
		ag := env.StartAgent(b, "bench", agent.Config{})
		dir := ag.Config.StateDir
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key"))
		if err != nil {
			b.Fatal(err)
		}
		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64,
			TLSClientConfig: &tls.Config{RootCAs: env.CAPool, Certificates: []tls.Certificate{cert}}}}
		body := fmt.Sprintf(`{"app":%q,"selector":{"kind":"system"},"resource":"api://bench"}`, site)
		b.SetParallelism(2)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := c.Post(env.URL+agentapi.PathToken, "application/json", strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mints/s")
	})
}
