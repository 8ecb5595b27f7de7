// Package arm is the plumbing every Azure Resource Manager-shaped route shares: resource ids
// (parsing, validation, canonical form, case-insensitive comparison and scope containment, as
// ARM does them), the api-version query parameter, and ARM's error codes. It owns no routes, no
// resources and no authorization; the management API's domains (resources, rbac, vault) build on
// it, and httpx renders its errors in ARM's body.
package arm
