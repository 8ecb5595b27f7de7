// Lanyard's keyVault input binding through input.generic (functions.md §8): the library carries
// it unchanged, and JSON-parses the string it gets (§4.4).
const { app, input } = require('@azure/functions');

const mySecret = input.generic({
  type: 'keyVault',
  name: 'mySecret',
  secretName: 'my-application-secret',
  vaultName: 'my-key-vault-name',
  identity: 'system',
});

app.http('secret', {
  methods: ['GET', 'POST'],
  authLevel: 'function',
  extraInputs: [mySecret],
  handler: (request, context) => {
    const s = context.extraInputs.get(mySecret);
    return { jsonBody: { secret: s, type: typeof s } };
  },
});
