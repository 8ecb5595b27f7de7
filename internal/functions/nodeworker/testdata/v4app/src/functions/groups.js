// Seed 000's function as a v4 app: a Graph token from the App Service identity endpoint, then
// GET /v1.0/groups with it. Changes from the seed, for a test on loopback: the Graph base URL
// comes from the app setting GRAPH_URL (default https://graph.microsoft.com), and the IMDS
// fallback is replaced by an error (tests never talk to 169.254.169.254).
const { app } = require('@azure/functions');

const GRAPH = process.env.GRAPH_URL || 'https://graph.microsoft.com';

async function getGraphToken() {
  const { IDENTITY_ENDPOINT, IDENTITY_HEADER } = process.env;
  if (IDENTITY_ENDPOINT && IDENTITY_HEADER) {
    const u = `${IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=https://graph.microsoft.com/`;
    const r = await fetch(u, { headers: { 'X-IDENTITY-HEADER': IDENTITY_HEADER } });
    const j = await r.json();
    return j.access_token;
  }
  throw new Error('IDENTITY_ENDPOINT and IDENTITY_HEADER are not set');
}

app.http('groups', {
  methods: ['GET'],
  authLevel: 'function',
  handler: async (request, context) => {
    const accessToken = await getGraphToken();
    const resp = await fetch(`${GRAPH}/v1.0/groups`, {
      headers: { Authorization: `Bearer ${accessToken}`, 'Content-Type': 'application/json' },
    });
    context.log(`graph answered ${resp.status}`);
    return { status: resp.status, jsonBody: await resp.json() };
  },
});
