// Package vault is the data plane of vaults: Key Vault's secrets API (azure-wire.md §6), served
// on each vault's own host name, {name}.{vaultDomain}. It owns secrets and their versions, soft
// delete, recovery, purge (and the background task that purges when the retention period ends),
// backups, the challenge that tells clients which tenant and resource to get a token for, and the
// per-request authorization by the vault's access policies or by RBAC data actions.
//
// It does not own vaults themselves (the resources domain creates them, with their access
// policies and properties), tokens (token verifies them, authn turns them into a principal), nor
// role assignments (rbac answers Allowed).
package vault
