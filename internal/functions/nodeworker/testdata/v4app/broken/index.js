// A v4 app whose main throws after registering one function.
const { app } = require('@azure/functions');

app.http('stillhere', { handler: () => ({ body: 'ok' }) });

throw new Error('main failed on purpose');
