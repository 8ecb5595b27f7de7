// Package authn decides who is calling: a peer on the admin socket (by its kernel-reported uid), a
// bearer token minted by this Lanyard, or a client certificate. It puts the caller's Principal in
// the request context. It does not decide what the caller may do; the domains do.
package authn
