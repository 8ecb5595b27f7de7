// context.log and its levels; the HTTP output is the return value ($return).
module.exports = async function (context) {
  context.log('plain %s', 'line');
  context.log.info('info line');
  context.log.warn('warn line');
  context.log.error('error line');
  context.log.verbose('verbose line');
  return { status: 200, body: 'logged' };
};
