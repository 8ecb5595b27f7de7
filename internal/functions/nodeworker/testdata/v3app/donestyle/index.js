// v3 without a promise: the function ends when it calls context.done.
module.exports = function (context, req) {
  setImmediate(() => {
    context.res = {
      status: 201,
      headers: { 'X-Answer': 'done-style', 'Content-Type': 'application/json' },
      body: { name: req.query.name, got: req.body, contentType: req.get('Content-Type'), params: req.params, boundId: context.bindingData.id, user: req.user },
    };
    context.done();
  });
};
