// Package directory owns a tenant's directory objects: applications (their appId, identifier URIs
// and app roles), service principals (one per application, and one per managed identity), app role
// assignments (which become the roles claim of tokens), groups with service-principal members, and
// directory role assignments (Global Administrator, Application Administrator, ...). It creates the
// built-in service principals of every tenant (the directory, vault and management APIs, named as
// Azure names them: "Microsoft Graph", "Azure Key Vault", "Windows Azure Service Management API"; with
// Microsoft Graph's real app-role ids), serves all of it as a Microsoft Graph v1.0-compatible API
// under /v1.0/ (one http.Handler that parses paths and queries with the odata package and answers
// in Graph's shapes, errors included), decides who may do what there (application permissions
// from the caller's token, directory roles read live from the store), and resolves what a token
// minted for a principal and a resource says (TokenRequest).
//
// It does not own: the $filter, $select and path syntax (package odata), signing tokens or
// verifying them (token, authn), tenants (tenant), resources and the lifecycle of managed
// identities (the resources domain calls CreateManagedIdentitySP and DeleteManagedIdentitySP), or
// SQL (store implements Store).
package directory
