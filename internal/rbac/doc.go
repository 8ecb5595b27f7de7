// Package rbac is Azure RBAC for the management plane and the vault data plane: role definitions
// (the built-in roles, with ARM's ids and permissions, kept in code), role assignments of a
// principal to a role at a scope (subscription ⊃ resource group ⊃ resource ⊃ child resource),
// and the one question every management route and RBAC-mode vault asks: may principal P perform
// action A at scope S? It is answered from the store at request time, with scope inheritance and
// ARM's wildcard rules for actions, so a removed assignment denies the very next request.
//
// It serves the Microsoft.Authorization roleAssignments and roleDefinitions routes in ARM's shape
// (Handler recognises them under any scope; Routes mounts the subscription and group ones).
// It does not own principals (the directory does; rbac asks through PrincipalChecker),
// subscriptions (resources; SubscriptionResolver), nor the resources that scopes name. Deleting a
// principal removes its assignments in the same transaction through the store's foreign key.
package rbac
