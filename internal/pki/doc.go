// Package pki owns the installation's certificate authority: a self-signed ECDSA P-256 root,
// created once per installation with its private key sealed under the KEK (internal/seal) and
// kept in the store. The CA issues the server's serving certificates (every host name of the
// control plane, plus the vault domain and its wildcard) and signs the agents' client certificate
// requests. ServingCerts holds the current serving certificate for tls.Config and renews it in
// place, with no restart, when two thirds of its lifetime have passed.
//
// It does not decide who may get a client certificate (internal/nodes does, with join tokens), it
// does not authenticate callers by their certificates (internal/authn does), and it does not talk
// SQL: storage is behind the Store interface, which internal/store implements.
package pki
