// The Node half of Lanyard's directory compatibility test (internal/compat/graph_node_test.go):
// the unmodified @microsoft/microsoft-graph-client with @azure/identity's ManagedIdentityCredential
// (App Service-style endpoint from IDENTITY_ENDPOINT/IDENTITY_HEADER), pointed at Lanyard by its
// base URL only (GRAPH_BASE_URL, and its host among customHosts so that the client sends its
// token there), does the managed-identity bootstrap: read the directory's app roles, grant two of
// them to FN_PRINCIPAL_ID, list FN_PRINCIPAL_ID's grants on the directory ($filter on
// resourceId), and page through the service principals with the client's PageIterator. It prints
// one JSON object on stdout and exits non-zero on a failure.
const { Client, PageIterator } = require("@microsoft/microsoft-graph-client");
const { TokenCredentialAuthenticationProvider } = require("@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials");
const { ManagedIdentityCredential } = require("@azure/identity");

async function main() {
  const base = process.env.GRAPH_BASE_URL;
  const fn = process.env.FN_PRINCIPAL_ID;
  const authProvider = new TokenCredentialAuthenticationProvider(new ManagedIdentityCredential(), {
    scopes: ["https://graph.microsoft.com/.default"],
  });
  const client = Client.initWithMiddleware({ authProvider, baseUrl: base, customHosts: new Set([new URL(base).hostname]) });

  const sp = await client.api("/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')").select("id,appRoles").get();
  const wanted = ["Directory.Read.All", "Group.Read.All"];
  const assigned = [];
  for (const value of wanted) {
    const role = (sp.appRoles || []).find((r) => r.value === value);
    if (!role) throw new Error("app role " + value + " not among the directory's roles");
    const a = await client.api(`/servicePrincipals/${sp.id}/appRoleAssignedTo`).post({ principalId: fn, resourceId: sp.id, appRoleId: role.id });
    if (!a.id || !a.createdDateTime || a.principalId !== fn) throw new Error("assignment answer lacks fields: " + JSON.stringify(a));
    assigned.push(a.id);
  }
  // resourceId is an Edm.Guid: Graph filters it with an unquoted GUID.
  const listed = await client.api(`/servicePrincipals/${fn}/appRoleAssignments`).filter(`resourceId eq ${sp.id}`).get();

  // Every service principal, two per page: the client follows @odata.nextLink.
  const first = await client.api("/servicePrincipals").select("id").top(2).get();
  const ids = [];
  await new PageIterator(client, first, (s) => {
    ids.push(s.id);
    return true;
  }).iterate();
  return {
    spId: sp.id,
    displayNameSelected: "displayName" in sp,
    assigned,
    listed: listed.value.map((a) => a.appRoleId),
    firstPage: first.value.length,
    firstHadNextLink: !!first["@odata.nextLink"],
    paged: ids,
  };
}

main().then(
  (out) => process.stdout.write(JSON.stringify(out) + "\n"),
  (e) => {
    process.stdout.write(JSON.stringify({ error: String(e && e.stack ? e.stack : e), body: e && e.body }) + "\n");
    process.exitCode = 1;
  },
);
