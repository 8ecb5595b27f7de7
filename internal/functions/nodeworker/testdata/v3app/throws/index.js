module.exports = async function (context) {
  context.log('about to fail');
  throw new Error('boom from v3');
};
