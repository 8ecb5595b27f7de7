// Logs more lines than one answer carries.
module.exports = async function (context) {
  for (let i = 0; i < 10005; i++) context.log(`line ${i}`);
  context.res = { body: 'chatty' };
};
