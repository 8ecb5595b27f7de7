// An ESM v4 app; @azure/functions resolves from ../node_modules.
import { app } from '@azure/functions';

app.http('hello', {
  authLevel: 'anonymous',
  handler: async (request) => ({ body: `hello ${request.query.get('name')}` }),
});
