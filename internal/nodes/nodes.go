package nodes

import (
	"context"
	"encoding/json"
	"time"

	"github.com/lanyardhq/lanyard/internal/resources"
)

// Node is an enrolled host. Its agent's client certificate names it by ID (CertPrefix + ID); a
// new enrollment under the same name gives it a new ID, which ends the old certificates' use.
type Node struct {
	ID        string // a GUID, lower case
	TenantID  string
	Name      string
	MachineID string // the canonical ARM id of its Microsoft.HybridCompute/machines resource
	Created   time.Time
	Renewed   time.Time // the last certificate issued (enrollment or renewal)
}

// JoinToken is a single-use enrollment token as the store keeps it: its hash, never the token.
type JoinToken struct {
	Hash      string // hex SHA-256 of the token
	TenantID  string
	NodeName  string
	Created   time.Time
	Expires   time.Time
	Used      time.Time // zero until it enrolls a node
	CreatedBy string
}

// Event is a change that may make cached tokens of PrincipalID say what is no longer true.
type Event struct {
	Seq         int64
	TenantID    string
	Kind        string
	PrincipalID string
}

// Store is what the nodes domain keeps (internal/store implements it).
type Store interface {
	CreateJoinToken(ctx context.Context, t JoinToken) error
	// GetJoinToken returns errs.NotFound for an unknown hash.
	GetJoinToken(ctx context.Context, hash string) (JoinToken, error)
	// EnrollNode marks the join token used, if it is unused and not expired at now (else
	// errs.Denied), and stores n, replacing a node of the same tenant and name, in one
	// transaction.
	EnrollNode(ctx context.Context, hash string, now time.Time, n Node) error
	// GetNode returns errs.NotFound for an unknown id (or a node whose machine was deleted).
	GetNode(ctx context.Context, id string) (Node, error)
	// GetNodeByName returns errs.NotFound when the tenant has no node of that name.
	GetNodeByName(ctx context.Context, tenantID, name string) (Node, error)
	ListNodes(ctx context.Context, tenantID string) ([]Node, error)
	TouchNode(ctx context.Context, id string, renewed time.Time) error
	DeleteNode(ctx context.Context, tenantID, name string) error

	// NodeEvents returns up to limit events of the tenant with Seq > after, in order.
	NodeEvents(ctx context.Context, tenantID string, after int64, limit int) ([]Event, error)
	// NodeEventHorizon returns the newest event's Seq (of any tenant; 0 when none) and the
	// Seq through which events have been pruned (0 when none).
	NodeEventHorizon(ctx context.Context) (last, pruned int64, err error)
	// PruneNodeEvents deletes the events created before the given time.
	PruneNodeEvents(ctx context.Context, before time.Time) error

	// GetResourceIdentities reads a resource by its lower-cased ARM id (errs.NotFound), with its
	// user-assigned identities but not its access policies, in one statement.
	GetResourceIdentities(ctx context.Context, tenantID, key string) (resources.Resource, error)
	// GetSiteConfig reads a site's config document (errs.NotFound when it was never written).
	GetSiteConfig(ctx context.Context, tenantID, siteKey, name string) (json.RawMessage, error)
	// GetNodeAndResource is GetNode and GetResourceIdentities (in the node's tenant; key "" for
	// the node's machine) in one statement: errs.NotFound when there is no such node, found
	// false when the node exists and the resource does not.
	GetNodeAndResource(ctx context.Context, id, key string) (n Node, r resources.Resource, found bool, err error)
	// MintSnapshot returns ctx carrying the store's mint generation, read now: the reads of a
	// mint made with it (GetNodeAndResource, and the directory's TokenFacts) may answer from
	// what was read at the same generation, which no change since has moved.
	MintSnapshot(ctx context.Context) (context.Context, error)

	// PackageSites returns the keys of the tenant's sites deployed with the package digest (now
	// or recently).
	PackageSites(ctx context.Context, tenantID, digest string) ([]string, error)
	// GetSitePackage returns the tenant's package digest (errs.NotFound).
	GetSitePackage(ctx context.Context, tenantID, digest string) ([]byte, error)
	// ClaimTimer claims one tick of a site's timer function for the node: true for the first
	// node that asks (and again for it), false for the others.
	ClaimTimer(ctx context.Context, siteKey, function string, tick time.Time, nodeID string, now time.Time) (bool, error)
}
