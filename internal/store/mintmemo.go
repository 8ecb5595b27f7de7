package store

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/lanyardhq/lanyard/internal/nodes"
	"github.com/lanyardhq/lanyard/internal/resources"
)

// What a token's mint reads, kept (issue 17; Lanyard's own design).
//
// A mint reads the node and the resource whose identity it asks for (GetNodeAndResource), and the
// token's resource, principal and roles (TokenFacts): two statements, about 60 µs of a cold mint's
// CPU. Migration 0018 keeps one generation number that every change to the tables they read
// raises, in the change's transaction. MintSnapshot reads it (one statement of one row) and puts
// it in the request's context; with it, both reads answer from what an earlier request read at
// the same generation, and read the store (keeping the result) only when the number moved. So a
// decision still reflects every change committed before the request, on any server: the number
// is read at the request, before anything kept under it is used, and what is kept under number N
// was read after N was seen (so it is as new as N, or newer).

// mintMemoMax bounds the entries kept per generation, both kinds together (a node's identities,
// a token's facts): past it, reads are not kept.
const mintMemoMax = 40000

// mintMemo is what mints read at one generation.
type mintMemo struct {
	gen   int64
	nodes sync.Map // node id + "\x00" + resource key → nodeAndResource
	facts sync.Map // tenant, principal, app id, name → the directory's TokenFacts
	n     atomic.Int64
}

type nodeAndResource struct {
	n     nodes.Node
	r     resources.Resource
	found bool
}

type mintGenKey struct{}

const mintGenerationQuery = `SELECT gen FROM mint_generation WHERE id = 1`

// MintSnapshot returns ctx carrying the mint generation read now: GetNodeAndResource and
// TokenFacts called with it answer from what was read at that generation when they can.
func (db *DB) MintSnapshot(ctx context.Context) (context.Context, error) {
	var gen int64
	if err := db.hotPool().queryRow(ctx, mintGenerationQuery).Scan(&gen); err != nil {
		return ctx, fail(err, "read the mint generation")
	}
	return context.WithValue(ctx, mintGenKey{}, gen), nil
}

// mintMemoOf returns the memo of the generation ctx carries, or nil when it carries none.
func (db *DB) mintMemoOf(ctx context.Context) *mintMemo {
	gen, ok := ctx.Value(mintGenKey{}).(int64)
	if !ok {
		return nil
	}
	m := db.mintMemo.Load()
	switch {
	case m != nil && m.gen == gen:
		return m
	case m != nil && m.gen > gen:
		return nil // a request that read an older number than another: read the store
	}
	fresh := &mintMemo{gen: gen}
	if db.mintMemo.CompareAndSwap(m, fresh) {
		return fresh
	}
	if m = db.mintMemo.Load(); m != nil && m.gen == gen {
		return m
	}
	return nil
}

// keep reports whether another entry may be kept.
func (m *mintMemo) keep() bool { return m.n.Add(1) <= mintMemoMax }
