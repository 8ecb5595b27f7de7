// Package odata parses and evaluates the Microsoft Graph (OData v4) syntax that Lanyard's
// Graph-compatible directory API accepts: the query options ($select, $filter, $top, $skiptoken,
// $count), the $filter expression language (eq, ne, in, startswith, and, or and the
// collection/any(x:x eq 'v') lambda), resource paths such as
// servicePrincipals(appId='…')/appRoleAssignedTo, $select projection and opaque skip tokens.
//
// It owns the syntax, its limits and its error messages: every parse error is an errs.Invalid
// whose message says what is wrong and where, fit for a Graph Request_BadRequest body.
//
// It does not own which properties an entity has, which of them may be filtered or selected, or
// how entities are stored and paged: the directory package passes those in (ValidateSelect,
// Expr.Fields, the get function of Expr.Eval) and decides what a path addresses.
package odata
