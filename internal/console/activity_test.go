package console

import (
	"net/http"
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
