// Package tenant owns tenants: the directories every other object belongs to. It creates the
// default tenant on first start and further tenants on request. It does not own what lives in a
// tenant (service principals, resources, vaults); those domains key their rows by tenant id.
package tenant
