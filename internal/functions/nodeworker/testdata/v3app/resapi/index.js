// v3's context.res helpers; send() ends a sync function.
module.exports = function (context, req) {
  context.res.status(202).set('X-Via', 'res-api').type('text/plain').send('accepted ' + req.rawBody);
};
