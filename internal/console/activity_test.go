package console

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestActivity(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 30, 0, time.UTC)
	a := &Activity{Now: func() time.Time { return now }}
	a.Minted("p1", "https://vault")
	a.Minted("p1", "https://vault")
	a.Request("vault", http.MethodGet, http.StatusOK)
	a.Request("vault", http.MethodGet, http.StatusForbidden)
	a.Request("/v1.0/", http.MethodGet, http.StatusUnauthorized)
	a.Request("/v1.0/", http.MethodGet, http.StatusOK) // neither
	now = now.Add(time.Minute)
	a.Minted("p2", "https://graph")
	bars, pairs := a.snapshot(3)
	if len(bars) != 3 {
		t.Fatalf("%d bars", len(bars))
	}
	prev, cur := bars[1], bars[2]
	if prev.Tokens != 2 || prev.VaultReads != 1 || prev.Refused != 2 || cur.Tokens != 1 || bars[0].Tokens != 0 {
		t.Errorf("bars = %+v", bars)
	}
	if prev.TokensH != 100 || cur.TokensH != 50 {
		t.Errorf("heights = %d, %d; want 100, 50", prev.TokensH, cur.TokensH)
	}
	if len(pairs) != 2 || pairs[0] != (pairCount{Principal: "p1", Resource: "https://vault", Count: 2}) {
		t.Errorf("pairs = %+v", pairs)
	}
	// An hour later the old minutes are gone.
	now = now.Add(time.Hour)
	bars, pairs = a.snapshot(60)
	for _, b := range bars {
		if b.Tokens != 0 || b.Refused != 0 {
			t.Fatalf("old minute still counted: %+v", b)
		}
	}
	if len(pairs) != 0 {
		t.Errorf("old pairs: %+v", pairs)
	}
}

// TestActivityConcurrent: the hooks take no lock, and no count is lost to concurrent callers.
func TestActivityConcurrent(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 30, 0, time.UTC)
	a := &Activity{Now: func() time.Time { return now }}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				a.Minted("p"+strconv.Itoa(i%4), "https://vault")
				a.Request("vault", http.MethodGet, http.StatusOK)
				if g == 0 && i%100 == 0 {
					a.snapshot(1)
				}
			}
		}()
	}
	wg.Wait()
	bars, pairs := a.snapshot(1)
	if bars[0].Tokens != 4000 || bars[0].VaultReads != 4000 {
		t.Errorf("bars = %+v, want 4000 tokens and 4000 reads", bars)
	}
	if len(pairs) != 4 || pairs[0].Count != 1000 {
		t.Errorf("pairs = %+v, want 4 pairs of 1000", pairs)
	}
}
