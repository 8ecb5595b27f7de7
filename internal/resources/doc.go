// Package resources is the management API's resource model: each tenant's default
// subscription, resource groups, and the resources Lanyard serves in ARM's shape — sites
// (Microsoft.Web/sites, kind app or functionapp), machines (Microsoft.HybridCompute/machines,
// the nodes), user-assigned identities (Microsoft.ManagedIdentity/userAssignedIdentities) and
// vaults (Microsoft.KeyVault/vaults, their ARM properties and access policies) — addressed by ARM
// ids compared without case. It owns the lifecycle of managed identities: the identity property
// of a resource (None, SystemAssigned, UserAssigned, "SystemAssigned, UserAssigned"); turning a
// system-assigned identity on creates its ManagedIdentity service principal, turning it off or
// deleting the resource deletes it with every role assignment, app role assignment and access
// policy it held; a user-assigned identity is a resource of its own whose principal outlives the
// resources it is attached to, and deleting it detaches it everywhere. Each of these is one store
// transaction (Store.ApplyResourceChange). Attaching a user-assigned identity needs its assign
// action, as in Azure.
//
// Every route asks RBAC (Access) the ARM action it needs at its scope; the tenant is the
// caller's. Handler serves the subscription, group and resource routes; it implements
// rbac.SubscriptionResolver (SubscriptionTenant).
//
// It does not own: service principals (directory makes them, NewManagedIdentitySP; the store
// writes them with the resource), role assignments and the authorization question (rbac), the
// vault data plane (vault), nodes' enrollment (nodes), or SQL (store implements Store).
package resources
