// Logs after it completed (a promise it did not await).
module.exports = async function (context) {
  setTimeout(() => context.log('written too late'), 20);
  context.res = { body: 'early' };
};
