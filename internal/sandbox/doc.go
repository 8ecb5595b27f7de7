// Package sandbox makes Azure's public addresses mean Lanyard for an app, so that code written
// for Azure runs unmodified: inside an app's sandbox, management.azure.com, graph.microsoft.com,
// login.microsoftonline.com, login.windows.net, vault.azure.net and every NAME.vault.azure.net
// resolve to a relay the agent serves, and 169.254.169.254 answers with the app's own identities.
//
// It owns:
//   - the names (names.go): which host names are Azure's and which Lanyard API each means;
//   - the resolver (resolver.go): a DNS server answering Azure's names with the relay's address
//     and passing every other question to the host's resolvers;
//   - the relay (splice.go): the agent's, passing each connection to those names on to a Lanyard
//     server byte for byte (the app's TLS ends at the server);
//   - the server's side of those names (azure.go): a wrapper of the server's handler that serves
//     each Azure name as its Lanyard API, with the Host, the Key Vault challenge and the URLs in
//     answers (nextLink, ids, Location) mapped between Azure's names and Lanyard's. The server
//     presents, for those names, certificates of the sandbox CA (internal/pki): a root of its
//     own, name-constrained to exactly those names, trusted only inside sandboxes (their trust
//     store), never by a host that trusts Lanyard's own CA;
//   - on Linux, the namespaces (netns_linux.go, exec_linux.go): a network namespace per app with
//     the resolver, the relay and the app's metadata endpoint listening inside it, and a private
//     mount namespace in which /etc/resolv.conf, /etc/hosts and the system trust store are the
//     sandbox's.
//
// It does not decide which identities an app has or mint tokens (the agent does, through the
// server); it does not run or supervise processes (the agent does, starting them through Exec).
package sandbox
