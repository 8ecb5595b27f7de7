package vault

import (
	"context"
	"time"
)

// Store is what the vault domain needs from storage. Secret names are compared without case.
// Unknown vaults, secrets and versions are errs.NotFound.
type Store interface {
	// VaultByName finds a vault by its name (lower case), in any tenant: vault names are unique
	// in the installation. The vault comes with its access policies.
	VaultByName(ctx context.Context, name string) (Vault, error)
	// VaultGeneration returns a number that every change to any vault or its access policies
	// raises in the transaction of the change; Vault.Gen is the number a vault was read at.
	VaultGeneration(ctx context.Context) (int64, error)
	// GetSecret returns a secret's state and one of its versions: version, or its latest when
	// version is "". A deleted secret is returned too (Secret.Deleted): the caller decides.
	GetSecret(ctx context.Context, vaultKey, name, version string) (Secret, Version, error)
	// GetSecretWithGeneration is GetSecret and VaultGeneration read together, at one moment (one
	// statement): the generation returned is the one the secret was read at. It is returned with
	// errs.NotFound too, when there is no such secret or version.
	GetSecretWithGeneration(ctx context.Context, vaultKey, name, version string) (int64, Secret, Version, error)
	// PutSecretVersion adds v as the latest version of its secret, creating the secret if its
	// name is new. ErrDeleted if the secret is deleted.
	PutSecretVersion(ctx context.Context, v Version) error
	// UpdateSecretVersion writes the attributes of v (content type, tags, enabled, not before,
	// expires, updated) to the version v names of a live secret.
	UpdateSecretVersion(ctx context.Context, v Version) error
	// ListSecrets returns up to limit secrets of the vault, live or deleted as deleted says, by
	// lower-cased name after afterKey, with their latest versions (Sealed left empty).
	ListSecrets(ctx context.Context, vaultKey string, deleted bool, afterKey string, limit int) ([]Secret, error)
	// ListSecretVersions returns up to limit versions (all when limit is 0) of a live secret in
	// creation order, starting after the version afterVersion ("" from the first), with their
	// sealed values. NotFound if the secret does not exist or is deleted.
	ListSecretVersions(ctx context.Context, vaultKey, name, afterVersion string, limit int) ([]Version, error)
	// DeleteSecret soft-deletes a live secret at deletedAt, to be purged at purgeAt, and returns
	// its state afterwards. NotFound if there is no live secret of that name.
	DeleteSecret(ctx context.Context, vaultKey, name string, deletedAt, purgeAt time.Time) (Secret, error)
	// RecoverSecret makes a deleted secret live again and returns its state. NotFound if there is
	// no deleted secret of that name.
	RecoverSecret(ctx context.Context, vaultKey, name string) (Secret, error)
	// PurgeSecret deletes a deleted secret and all its versions for good. NotFound if there is no
	// deleted secret of that name.
	PurgeSecret(ctx context.Context, vaultKey, name string) error
	// PurgeDueSecrets purges up to limit deleted secrets whose purge time is not after now, in any
	// vault, and returns them (vault key and name).
	PurgeDueSecrets(ctx context.Context, now time.Time, limit int) ([]Version, error)
	// RestoreSecret creates a secret with the given versions (oldest first; the last is the
	// latest), keeping their version ids. ErrExists if a live secret has the name, ErrDeleted if a
	// deleted one has.
	RestoreSecret(ctx context.Context, versions []Version) error
	// VaultBackupKey returns the tenant's backup key as sealed under the KEK; the first call of a
	// tenant stores the one create returns (the KEK's id and the sealed key). Every call of a tenant
	// returns the same key, also across KEK rotations (which rewrap it).
	VaultBackupKey(ctx context.Context, tenantID string, create func() (kekID string, sealed []byte, err error)) ([]byte, error)
	// TryLease takes or renews a lease (see store.DB.TryLease): one server at a time purges.
	TryLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error)
}
