package vault

import (
	"context"
	"sync"
)

// maxKeptVaults bounds how many vaults a vaultCache keeps; past it, it starts again empty.
const maxKeptVaults = 4096

// vaultCache keeps vaults (with their access policies and parsed settings) as read from the
// store, each with the vault generation it was read at (store migration 0008: every change to
// any vault or its access policies raises it in the transaction of the change, on whichever
// server made it). A request reuses a kept vault only after reading the current generation from
// the store and finding it unchanged, so authorization still rests on the store's state at the
// time of the request: a removed access policy denies the very next request on every server.
// What it saves is reading and parsing the vault and its policies on every request. The zero
// value is ready to use.
type vaultCache struct {
	mu     sync.RWMutex
	byName map[string]keptVault
}

type keptVault struct {
	v   Vault
	set settings
}

// vault returns the vault named name (lower case) and its settings, as of the store's current
// vault generation.
func (c *vaultCache) vault(ctx context.Context, st Store, name string) (Vault, settings, error) {
	c.mu.RLock()
	k, ok := c.byName[name]
	c.mu.RUnlock()
	if ok {
		gen, err := st.VaultGeneration(ctx)
		if err != nil {
			return Vault{}, settings{}, err
		}
		if gen == k.v.Gen {
			return k.v, k.set, nil
		}
	}
	v, err := st.VaultByName(ctx, name)
	if err != nil {
		return Vault{}, settings{}, err
	}
	k = keptVault{v: v, set: v.settings()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName == nil || len(c.byName) >= maxKeptVaults {
		c.byName = make(map[string]keptVault)
	}
	if old, ok := c.byName[name]; !ok || old.v.Gen <= v.Gen { // a slower reader does not undo a newer read
		c.byName[name] = k
	}
	return v, k.set, nil
}

// kept returns the vault kept under name without reading the store: the caller must check its
// generation against the store's before using it.
func (c *vaultCache) kept(name string) (keptVault, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.byName[name]
	return k, ok
}
