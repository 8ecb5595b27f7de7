package vault

import (
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Vault is what the data plane needs of a vault resource.
type Vault struct {
	TenantID string
	ID       string // canonical ARM id
	Key      string // lower-cased ARM id: the identity of the vault's secrets
	Name     string // lower case: the first label of its host name
	// Properties is the vault's properties as the resources domain keeps them (without the
	// access policies).
	Properties json.RawMessage
	Policies   []Policy
	// Gen is the store's vault generation this was read at (Store.VaultGeneration).
	Gen int64
}

// Policy is one access policy of a vault, as far as secrets go.
type Policy struct {
	TenantID      string
	ObjectID      string // lower case
	ApplicationID string // "" when none
	Secrets       []string
}

// settings are the properties the data plane acts on.
type settings struct {
	RBAC            bool `json:"enableRbacAuthorization"`
	RetentionDays   int  `json:"softDeleteRetentionInDays"`
	PurgeProtection bool `json:"enablePurgeProtection"`
}

// DefaultRetentionDays is the soft-delete retention when a vault does not say.
const DefaultRetentionDays = 90

func (v Vault) settings() settings {
	s := settings{RetentionDays: DefaultRetentionDays}
	_ = json.Unmarshal(v.Properties, &s)
	if s.RetentionDays < 7 || s.RetentionDays > 90 {
		s.RetentionDays = DefaultRetentionDays
	}
	return s
}

// recoveryLevel is Key Vault's deletion recovery level for a vault's settings.
func (s settings) recoveryLevel() string {
	level := "Recoverable"
	if s.RetentionDays != DefaultRetentionDays {
		level = "CustomizedRecoverable"
	}
	if !s.PurgeProtection {
		level += "+Purgeable"
	}
	return level
}

// Version is one version of a secret, with its value sealed.
type Version struct {
	VaultKey    string
	Name        string // the secret's name as first written
	Version     string // 32 lower-case hex digits
	ContentType string
	Tags        map[string]string
	Enabled     bool
	NotBefore   time.Time // zero: none; whole seconds
	Expires     time.Time // zero: none; whole seconds
	Created     time.Time
	Updated     time.Time
	KEKID       string
	Sealed      []byte
}

// Secret is a secret's state: its latest version and, when it is deleted, when it was and when it
// will be purged.
type Secret struct {
	Latest    Version
	DeletedAt time.Time // zero while the secret is live
	PurgeAt   time.Time
}

// Deleted reports whether the secret is soft-deleted.
func (s Secret) Deleted() bool { return !s.DeletedAt.IsZero() }

// SealID is the id of a version in its seal's associated data: "{vault key}/secrets/{name
// key}/{version}". The store keeps it as the version's row id.
func SealID(vaultKey, name, version string) string {
	return vaultKey + "/secrets/" + strings.ToLower(name) + "/" + version
}

// SealTable and SealPurpose complete a version's associated data.
const (
	SealTable   = "vault_secret_versions"
	SealPurpose = "value"
)

// Errors the store returns for the domain to render.
var (
	// ErrDeleted: the secret exists but is soft-deleted (a set or restore of its name conflicts).
	ErrDeleted = errors.New("vault: the secret is deleted but recoverable")
	// ErrExists: a restore names a secret that exists.
	ErrExists = errors.New("vault: the secret exists")
)

// Limits, as Key Vault's.
const (
	MaxValueBytes   = 25 * 1024
	MaxPageSize     = 25
	MaxTags         = 15
	maxTagKeyLen    = 512
	maxTagValueLen  = 256
	maxContentType  = 255
	maxBackupBody   = 16 << 20
	maxRequestBytes = 1 << 20
)

var namePattern = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)
var versionPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ValidName reports whether name is a valid secret name.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// Secret permissions of access policies.
const (
	PermGet     = "get"
	PermList    = "list"
	PermSet     = "set"
	PermDelete  = "delete"
	PermRecover = "recover"
	PermBackup  = "backup"
	PermRestore = "restore"
	PermPurge   = "purge"
	permAll     = "all"
)

// allows reports whether the policy grants perm on secrets.
func (p Policy) allows(perm string) bool {
	return slices.ContainsFunc(p.Secrets, func(s string) bool {
		return strings.EqualFold(s, perm) || strings.EqualFold(s, permAll)
	})
}
