// Returns a promise and calls done too (Azure logs an error; the promise's result counts).
module.exports = async function (context) {
  context.res = { body: 'both' };
  context.done();
};
