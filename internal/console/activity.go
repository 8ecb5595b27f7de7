package console

import (
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Activity counts, per minute over the last hour, the tokens minted (by identity and resource),
// the requests refused (401, 403) and the vault reads, for the dashboard. It is fed by the server
// (the token service's mint hook and the HTTP middleware's observer) and kept in memory: each
// server replica shows its own traffic.
//
// The hooks run on every mint and vault read, so they take no lock: a minute's counters are
// atomic, and its (identity, resource) pairs a sync.Map of atomic counters. Only the first
// event of a new minute takes mu, to empty the slot the minute reuses.
type Activity struct {
	Now func() time.Time

	mu      sync.Mutex // held to reset a slot for a new minute
	minutes [activityMinutes]minute
}

const activityMinutes = 60

// maxPairs bounds one minute's distinct (identity, resource) pairs.
const maxPairs = 1000

type mintKey struct{ Principal, Resource string }

type minute struct {
	at         atomic.Int64             // unix minute this slot holds; stored last when the slot is reset
	mints      atomic.Pointer[sync.Map] // mintKey → *atomic.Int64
	pairs      atomic.Int32             // distinct keys in mints
	tokens     atomic.Int64
	refused    atomic.Int64
	vaultReads atomic.Int64
}

func (a *Activity) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// slot returns the slot of the current minute, emptied if it held an older one.
func (a *Activity) slot() *minute {
	m := a.now().Unix() / 60
	s := &a.minutes[m%activityMinutes]
	if s.at.Load() == m && s.mints.Load() != nil {
		return s
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.at.Load() != m || s.mints.Load() == nil {
		s.mints.Store(new(sync.Map))
		s.pairs.Store(0)
		s.tokens.Store(0)
		s.refused.Store(0)
		s.vaultReads.Store(0)
		s.at.Store(m) // last: a caller that sees m sees the emptied slot
	}
	return s
}

// Minted counts a token minted for principal (an object id) and resource.
func (a *Activity) Minted(principal, resource string) {
	if a == nil {
		return
	}
	s := a.slot()
	s.tokens.Add(1)
	mints := s.mints.Load()
	k := mintKey{principal, resource}
	if c, ok := mints.Load(k); ok {
		c.(*atomic.Int64).Add(1)
		return
	}
	if s.pairs.Load() >= maxPairs { // bounded: one minute's distinct pairs
		return
	}
	c, loaded := mints.LoadOrStore(k, new(atomic.Int64))
	if !loaded {
		s.pairs.Add(1)
	}
	c.(*atomic.Int64).Add(1)
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
	s := a.slot()
	if refused {
		s.refused.Add(1)
	}
	if read {
		s.vaultReads.Add(1)
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
	cur := a.now().Unix() / 60
	bars := make([]bar, n)
	pairs := map[mintKey]int{}
	for i := 0; i < activityMinutes; i++ {
		m := cur - int64(i)
		s := &a.minutes[m%activityMinutes]
		if s.at.Load() != m {
			if i < n {
				bars[n-1-i] = bar{At: time.Unix(m*60, 0).UTC()}
			}
			continue
		}
		if i < n {
			bars[n-1-i] = bar{At: time.Unix(m*60, 0).UTC(), Tokens: int(s.tokens.Load()), Refused: int(s.refused.Load()), VaultReads: int(s.vaultReads.Load())}
		}
		if mints := s.mints.Load(); mints != nil {
			mints.Range(func(k, v any) bool {
				pairs[k.(mintKey)] += int(v.(*atomic.Int64).Load())
				return true
			})
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
