package console

import (
	"net/http"
	"sort"
	"sync"
	"time"
)

// Activity counts, per minute over the last hour, the tokens minted (by identity and resource),
// the requests refused (401, 403) and the vault reads, for the dashboard. It is fed by the server
// (the token service's mint hook and the HTTP middleware's observer) and kept in memory: each
// server replica shows its own traffic.
type Activity struct {
	Now func() time.Time

	mu      sync.Mutex
	minutes [activityMinutes]minute
}

const activityMinutes = 60

type mintKey struct{ Principal, Resource string }

type minute struct {
	at         int64 // unix minute this slot holds
	mints      map[mintKey]int
	tokens     int
	refused    int
	vaultReads int
}

func (a *Activity) slot() *minute {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	m := now().Unix() / 60
	s := &a.minutes[m%activityMinutes]
	if s.at != m {
		*s = minute{at: m}
	}
	return s
}

// Minted counts a token minted for principal (an object id) and resource.
func (a *Activity) Minted(principal, resource string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.slot()
	if s.mints == nil {
		s.mints = map[mintKey]int{}
	}
	k := mintKey{principal, resource}
	if _, ok := s.mints[k]; ok || len(s.mints) < 1000 { // bounded: one minute's distinct pairs
		s.mints[k]++
	}
	s.tokens++
}

// Request counts a finished request: refused ones, and successful reads of the vault data plane
// (route "vault").
func (a *Activity) Request(route, method string, status int) {
	if a == nil {
		return
	}
	refused := status == http.StatusUnauthorized || status == http.StatusForbidden
	read := route == "vault" && method == http.MethodGet && status == http.StatusOK
	if !refused && !read {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.slot()
	if refused {
		s.refused++
	}
	if read {
		s.vaultReads++
	}
}

// bar is one minute of the dashboard's charts.
type bar struct {
	At                          time.Time
	Tokens, Refused, VaultReads int
	TokensH, RefusedH, ReadsH   int // heights in percent of the largest minute
}

// pairCount is a (identity, resource) pair and its tokens over the hour.
type pairCount struct {
	Principal, Resource, Name string
	Count                     int
}

// snapshot returns the last n minutes, oldest first, and the busiest pairs of the hour.
func (a *Activity) snapshot(n int) ([]bar, []pairCount) {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := now().Unix() / 60
	bars := make([]bar, n)
	pairs := map[mintKey]int{}
	for i := 0; i < activityMinutes; i++ {
		m := cur - int64(i)
		s := a.minutes[m%activityMinutes]
		if s.at != m {
			s = minute{}
		}
		if i < n {
			bars[n-1-i] = bar{At: time.Unix(m*60, 0).UTC(), Tokens: s.tokens, Refused: s.refused, VaultReads: s.vaultReads}
		}
		for k, v := range s.mints {
			pairs[k] += v
		}
	}
	maxT, maxR, maxV := 1, 1, 1
	for _, b := range bars {
		maxT, maxR, maxV = max(maxT, b.Tokens), max(maxR, b.Refused), max(maxV, b.VaultReads)
	}
	for i := range bars {
		bars[i].TokensH, bars[i].RefusedH, bars[i].ReadsH = bars[i].Tokens*100/maxT, bars[i].Refused*100/maxR, bars[i].VaultReads*100/maxV
	}
	out := make([]pairCount, 0, len(pairs))
	for k, v := range pairs {
		out = append(out, pairCount{Principal: k.Principal, Resource: k.Resource, Count: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Principal+out[i].Resource < out[j].Principal+out[j].Resource
	})
	return bars, out
}
