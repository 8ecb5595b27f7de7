// The HTTP request and response surface, and the hooks.
const { app } = require('@azure/functions');

let unknownHook = 'none';
try {
  require('@azure/functions-core').registerHook('noSuchHook', () => {});
} catch (err) {
  unknownHook = err.constructor.name;
}

let started = false;
app.hook.appStart((ctx) => {
  started = typeof ctx.hookData === 'object';
});

// The test sends SIGTERM and looks for this file.
app.hook.appTerminate(() => {
  if (process.env.TERMINATE_MARK) require('fs').writeFileSync(process.env.TERMINATE_MARK, 'terminated');
});

// Log hooks may rewrite a line's message (and see its invocation).
app.hook.log((ctx) => {
  if (ctx.message === 'redact me') ctx.message = `[redacted in ${ctx.invocationContext ? ctx.invocationContext.functionName : 'none'}]`;
});

app.hook.preInvocation((ctx) => {
  ctx.hookData.pre = true;
  if (ctx.invocationContext.functionName === 'echo') {
    const orig = ctx.functionHandler;
    ctx.functionHandler = async (...args) => {
      const r = await orig(...args);
      r.headers = { ...r.headers, 'x-pre-hook': 'wrapped' };
      return r;
    };
  }
});

app.hook.postInvocation((ctx) => {
  if (ctx.invocationContext.functionName === 'echo') ctx.invocationContext.log(`post hook saw pre=${ctx.hookData.pre}`);
});

app.http('echo', {
  methods: ['GET', 'POST'],
  route: 'echo/{id?}',
  handler: async (request, context) => {
    context.warn('a warning');
    context.debug('a debug line');
    context.info('redact me');
    return {
      status: 201,
      headers: { 'x-id': request.params.id || '' },
      cookies: [{ name: 'flavour', value: 'oat', path: '/' }],
      jsonBody: {
        method: request.method,
        url: request.url,
        q: request.query.get('q'),
        body: await request.text(),
        header: request.headers.get('x-custom'),
        user: request.user ? request.user.username : null,
        unknownHook,
        started,
      },
    };
  },
});

app.http('fail', {
  handler: async (request, context) => {
    context.error('failing now');
    throw new Error('boom from v4');
  },
});

app.http('bench', {
  methods: ['POST', 'GET'],
  handler: () => ({ jsonBody: { ok: true } }),
});

app.http('bytes', {
  handler: async (request) => ({ body: new Uint8Array([0, 255, 1, 254]) }),
});
