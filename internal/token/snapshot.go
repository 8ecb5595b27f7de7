package token

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// snapshot is the immutable set of keys in use, built from the stored records at one time and
// valid for the states of that time. The hot path loads it atomically; when the clock passes a
// key's next transition, the snapshot is rebuilt from the same records without the store.
type snapshot struct {
	records   []KeyRecord             // every stored key, in store order
	mats      map[string]*keyMaterial // loaded keys by id
	from      time.Time               // states hold for from <= now < until
	until     time.Time
	signer    *keyMaterial   // nil when nothing can sign
	published []*keyMaterial // JWKS order: the signer, then the others, newest activation first
	algs      []string       // algorithms of the published keys
	docs      sync.Map       // docKey → []byte, rendered on first use
}

var forever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

func build(records []KeyRecord, mats map[string]*keyMaterial, now time.Time) *snapshot {
	p := &snapshot{records: records, mats: mats, until: forever}
	type entry struct {
		rec KeyRecord
		m   *keyMaterial
	}
	var pub []entry
	for _, k := range records {
		for _, t := range [...]time.Time{k.ActivateAt, k.RetireAt, k.DropAt} {
			switch {
			case t.IsZero():
			case !now.Before(t):
				if t.After(p.from) {
					p.from = t
				}
			case t.Before(p.until):
				p.until = t
			}
		}
		if m := mats[k.ID]; m != nil && k.State(now) != Gone {
			pub = append(pub, entry{k, m})
		}
	}
	// The signer is the newest active key that is loaded.
	var signer *KeyRecord
	for i := range pub {
		k := &pub[i].rec
		if k.State(now) == Active && (signer == nil || !k.ActivateAt.Before(signer.ActivateAt)) {
			signer, p.signer = k, pub[i].m
		}
	}
	slices.SortStableFunc(pub, func(a, b entry) int {
		switch {
		case a.m == p.signer:
			return -1
		case b.m == p.signer:
			return 1
		}
		return b.rec.ActivateAt.Compare(a.rec.ActivateAt)
	})
	for _, e := range pub {
		p.published = append(p.published, e.m)
	}
	for _, alg := range [...]string{RS256, ES256} {
		if slices.ContainsFunc(pub, func(e entry) bool { return e.m.alg == alg }) {
			p.algs = append(p.algs, alg)
		}
	}
	return p
}

var errNoKey = errs.E(errs.Unavailable, "the token service has no signing key that it can use")

// current returns the snapshot valid at now.
func (s *Service) current(now time.Time) (*snapshot, error) {
	p := s.snap.Load()
	if p == nil {
		return nil, errs.E(errs.Unavailable, "the token service has not loaded its signing keys yet")
	}
	if now.Before(p.from) || !now.Before(p.until) {
		np := build(p.records, p.mats, now)
		s.snap.CompareAndSwap(p, np) // a concurrent Reload wins
		p = np
	}
	return p, nil
}

// Reload reads the keys from the store and makes them the ones in use. Keys already loaded are
// kept as they are; a key that cannot be opened is left out and reported in the error, and the
// others are used.
func (s *Service) Reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	// The version is read before the keys: a change between the two reads moves it past what
	// was listed, and the next ReloadIfChanged reads the keys again.
	version, err := s.Store.SigningKeysVersion(ctx)
	if err != nil {
		return fmt.Errorf("signing keys version: %w", err)
	}
	recs, err := s.Store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	now := s.now()
	old := s.snap.Load()
	mats := make(map[string]*keyMaterial, len(recs))
	var failed []error
	for _, r := range recs {
		if r.State(now) == Gone {
			continue
		}
		if old != nil {
			if m := old.mats[r.ID]; m != nil && m.sameAs(r) {
				mats[r.ID] = m
				continue
			}
		}
		m, err := s.load(r)
		if err != nil {
			failed = append(failed, err)
			continue
		}
		mats[r.ID] = m
	}
	s.snap.Store(build(recs, mats, now))
	s.version = version
	if len(failed) > 0 {
		return errs.Wrap(errs.Internal, errors.Join(failed...), "some signing keys could not be loaded")
	}
	return nil
}

// VerificationKey returns the public key and algorithm of the published key kid, for verifying
// a token this service minted.
func (s *Service) VerificationKey(kid string) (crypto.PublicKey, string, bool) {
	p, err := s.current(s.now())
	if err != nil {
		return nil, "", false
	}
	for _, m := range p.published {
		if m.kid == kid {
			if m.rsa != nil {
				return &m.rsa.PublicKey, m.alg, true
			}
			return &m.ec.PublicKey, m.alg, true
		}
	}
	return nil, "", false
}
