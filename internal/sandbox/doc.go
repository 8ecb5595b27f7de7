// Package sandbox makes Azure's public addresses mean Lanyard for an app, so that code written
// for Azure runs unmodified: inside an app's sandbox, management.azure.com, graph.microsoft.com,
// login.microsoftonline.com, login.windows.net, vault.azure.net and every NAME.vault.azure.net
// resolve to a relay the agent serves, and 169.254.169.254 answers with the app's own identities.
//
// It owns:
//   - the names (names.go): which host names are Azure's and which Lanyard API each means;
//   - the sandbox CA (ca.go): a CA of its own, name-constrained to exactly those names, whose
//     leaf certificates the relay presents; it is trusted only inside sandboxes (their trust
//     store), never by a host that trusts Lanyard's own CA;
//   - the resolver (resolver.go): a DNS server answering Azure's names with the relay's address
//     and passing every other question to the host's resolvers;
//   - the relay (relay.go): HTTPS for Azure's names, forwarded to the Lanyard server with the
//     Host, the Key Vault challenge and the URLs in answers (nextLink, ids) mapped between Azure's
//     names and Lanyard's;
//   - on Linux, the namespaces (netns_linux.go, exec_linux.go): a network namespace per app with
//     the resolver, the relay and the app's metadata endpoint listening inside it, and a private
//     mount namespace in which /etc/resolv.conf, /etc/hosts and the system trust store are the
//     sandbox's.
//
// It does not decide which identities an app has or mint tokens (the agent does, through the
// server); it does not run or supervise processes (the agent does, starting them through Exec).
package sandbox
