// Seed 000's function as a v4 app (@azure/functions 4.x), its code as the seed wrote it (the
// TypeScript types dropped): a Graph token from the App Service identity endpoint, with the
// seed's IMDS fallback, then GET https://graph.microsoft.com/v1.0/groups. Nothing is changed
// for Lanyard: inside the app's sandbox graph.microsoft.com and 169.254.169.254 are Lanyard.
const { app } = require('@azure/functions');

const { IDENTITY_ENDPOINT, IDENTITY_HEADER } = process.env;
async function getGraphToken() {
  if (IDENTITY_ENDPOINT && IDENTITY_HEADER) {
    const u = `${IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=https://graph.microsoft.com/`;
    const r = await fetch(u, { headers: { "X-IDENTITY-HEADER": IDENTITY_HEADER } });
    const j = await r.json();
    return j.access_token;
  }
  // IMDS fallback
  const imds = "http://169.254.169.254/metadata/identity/oauth2/token" +
    "?api-version=2018-02-01&resource=https://graph.microsoft.com/";
  const r = await fetch(imds, { headers: { "Metadata": "true" } });
  const j = await r.json();
  return j.access_token;
}

app.http('groups', {
  methods: ['GET'],
  authLevel: 'function',
  handler: async (request, context) => {
    const access_token = await getGraphToken();
    const resp = await fetch("https://graph.microsoft.com/v1.0/groups", {
      headers: { Authorization: `Bearer ${access_token}`, "Content-Type": "application/json" }
    });
    return { status: resp.status, jsonBody: await resp.json() };
  },
});
