// Package nodes is the server's side of the node agent: single-use join tokens (only their
// SHA-256 is stored), enrollment (a node's CSR signed into a client certificate named after the
// node's id, its machine resource made with a system-assigned identity), certificate renewal
// with the subject kept, minting for agents (the agent API of internal/agent/agentapi), and the
// events long poll that tells agents to drop cached tokens.
//
// Who a node may mint for is decided here on every call: the identities of its own machine
// resource, and those of the sites placed on it (properties.lanyard.node, see
// resources.SiteNode). Everything else is 403 and audited. Which claims a token carries is the
// directory's business (Minter); signing is the token service's.
//
// Events are rows that database triggers write in the transaction of the change (migration
// 0005): an app role granted or revoked, an RBAC assignment added or removed, a user-assigned
// identity detached, a service principal disabled or deleted. Every server reads the newest
// sequence number every PollEvery and wakes its long polls; an agent learns of the events of its
// tenant, not only of its own identities, because an identity that was detached is no longer
// among them.
package nodes
