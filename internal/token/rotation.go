package token

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// State is where a key is in its life; see KeyRecord.
type State string

// The states of a key.
const (
	Pending State = "pending" // published, not signing yet
	Active  State = "active"  // published; the newest active key signs
	Retired State = "retired" // published until the tokens it signed have expired
	Gone    State = "gone"    // no longer published
)

// State returns k's state at now.
func (k KeyRecord) State(now time.Time) State {
	switch {
	case !k.DropAt.IsZero() && !now.Before(k.DropAt):
		return Gone
	case !k.RetireAt.IsZero() && !now.Before(k.RetireAt):
		return Retired
	case now.Before(k.ActivateAt):
		return Pending
	}
	return Active
}

// newestActive returns the index of the key that signs at now, or -1: the active key activated
// last (the later in store order on a tie).
func newestActive(keys []KeyRecord, now time.Time) int {
	best := -1
	for i, k := range keys {
		if k.State(now) == Active && (best < 0 || !k.ActivateAt.Before(keys[best].ActivateAt)) {
			best = i
		}
	}
	return best
}

// successor returns the index of the pending key that activates after keys[after] (or any pending
// key when after is -1), the one activating first, or -1.
func successor(keys []KeyRecord, after int, now time.Time) int {
	best := -1
	for i, k := range keys {
		if k.State(now) != Pending || (after >= 0 && !k.ActivateAt.After(keys[after].ActivateAt)) {
			continue
		}
		if best < 0 || k.ActivateAt.Before(keys[best].ActivateAt) {
			best = i
		}
	}
	return best
}

// rotation is what asked for a rotation step.
type rotation int

const (
	scheduled rotation = iota // the periodic step: create a key only when one is due
	onDemand                  // Rotate(immediate=false): schedule a successor now
	immediate                 // Rotate(immediate=true): a new key signs at once
)

// plan decides one locked rotation step over the stored keys at now. It returns the change and
// the id of the key that will sign next (new or already scheduled), if any.
func (s *Service) plan(keys []KeyRecord, now time.Time, why rotation) (KeyChange, string, error) {
	cfg := s.cfg()
	at := now.UTC().Truncate(time.Second) // stored times are whole seconds, never after now
	var ch KeyChange
	retire := func(k KeyRecord, t time.Time) {
		prev := k.RetireAt
		if r, ok := ch.Retire[k.ID]; ok {
			prev = r.RetireAt
		}
		if !prev.IsZero() && !prev.After(t) {
			return // already retiring sooner
		}
		if ch.Retire == nil {
			ch.Retire = map[string]RetireTimes{}
		}
		ch.Retire[k.ID] = RetireTimes{RetireAt: t, DropAt: t.Add(cfg.TokenLifetime + DropSkew)}
	}
	insert := func(activate time.Time) (string, error) {
		k, err := s.newKey(cfg.Alg, at)
		if err != nil {
			return "", err
		}
		k.ActivateAt = activate
		ch.Insert = &k
		return k.ID, nil
	}

	cur := newestActive(keys, now)
	// An older key still active without a retire time (left by an interrupted change) stops
	// signing when the newest started.
	for i, k := range keys {
		if i != cur && cur >= 0 && k.State(now) == Active && k.RetireAt.IsZero() {
			retire(k, keys[cur].ActivateAt)
		}
	}
	next := successor(keys, cur, now)

	switch {
	case cur < 0 || why == immediate:
		// Nothing signs (a new installation, or every key retired), or the signing key is
		// compromised: a new key signs now. Every active key retires now; its tokens stay
		// verifiable until they expire. A successor already scheduled still takes over at its
		// time.
		id, err := insert(at)
		if err != nil {
			return KeyChange{}, "", err
		}
		for _, k := range keys {
			if k.State(now) == Active {
				retire(k, at)
			}
		}
		if next >= 0 {
			t := keys[next].ActivateAt
			ch.Insert.RetireAt, ch.Insert.DropAt = t, t.Add(cfg.TokenLifetime+DropSkew)
		}
		return ch, id, nil
	case next >= 0:
		return ch, keys[next].ID, nil
	case why == onDemand || now.Sub(keys[cur].ActivateAt) >= cfg.RotationPeriod-cfg.PrePublish || keys[cur].Alg != cfg.Alg:
		// Due (or asked for, or the configured algorithm changed): publish a successor now; it
		// signs after the lead, when the current key retires.
		t := at.Add(cfg.PrePublish)
		id, err := insert(t)
		if err != nil {
			return KeyChange{}, "", err
		}
		retire(keys[cur], t)
		return ch, id, nil
	}
	return ch, "", nil
}

// Step runs one rotation step under the store's signing-key lock: it creates the first key, or
// publishes a successor when the signing key is due. It does not reload; Run and Init do.
func (s *Service) Step(ctx context.Context) error {
	_, err := s.update(ctx, scheduled)
	return err
}

// Rotate publishes a successor to the signing key now and reloads. The successor signs after
// the pre-publication lead, or, when immediate is true (the signing key is compromised), at once;
// the keys it replaces stay in JWKS until the tokens they signed have expired. Without immediate,
// a successor already scheduled is kept. Rotate returns the successor's key id.
func (s *Service) Rotate(ctx context.Context, immediately bool) (string, error) {
	why := onDemand
	if immediately {
		why = immediate
	}
	id, err := s.update(ctx, why)
	if err != nil {
		return "", err
	}
	return id, s.Reload(ctx)
}

func (s *Service) update(ctx context.Context, why rotation) (string, error) {
	if err := s.Config.Validate(); err != nil {
		return "", err
	}
	var next string
	var change KeyChange
	err := s.Store.UpdateSigningKeys(ctx, func(keys []KeyRecord) (KeyChange, error) {
		var err error
		change, next, err = s.plan(keys, s.now(), why)
		return change, err
	})
	if err != nil {
		return "", err
	}
	var evs []audit.Event
	if k := change.Insert; k != nil {
		s.log().LogAttrs(ctx, slog.LevelInfo, "signing key created",
			slog.String("kid", k.ID), slog.String("alg", k.Alg), slog.Time("activate_at", k.ActivateAt))
		evs = append(evs, audit.Event{Action: "signing-key.create", Target: k.ID,
			Detail: "alg=" + k.Alg + " activate_at=" + k.ActivateAt.Format(time.RFC3339)})
	}
	ids := slices.Sorted(maps.Keys(change.Retire))
	for _, id := range ids {
		t := change.Retire[id]
		s.log().LogAttrs(ctx, slog.LevelInfo, "signing key retiring",
			slog.String("kid", id), slog.Time("retire_at", t.RetireAt), slog.Time("drop_at", t.DropAt))
		evs = append(evs, audit.Event{Action: "signing-key.retire", Target: id,
			Detail: "retire_at=" + t.RetireAt.Format(time.RFC3339) + " drop_at=" + t.DropAt.Format(time.RFC3339)})
	}
	if s.Audit != nil {
		for _, ev := range evs {
			ev.Actor, ev.Result, ev.RequestID = "system", audit.Success, httpx.RequestID(ctx)
			if _, err := s.Audit.Record(ctx, ev); err != nil {
				return next, err
			}
		}
	}
	return next, nil
}

// KeyStates counts the stored keys by state now, for a gauge. Every state is present.
func (s *Service) KeyStates() map[string]int {
	out := map[string]int{string(Pending): 0, string(Active): 0, string(Retired): 0, string(Gone): 0}
	now := s.now()
	p, err := s.current(now)
	if err != nil {
		return out
	}
	for _, k := range p.records {
		out[string(k.State(now))]++
	}
	return out
}
