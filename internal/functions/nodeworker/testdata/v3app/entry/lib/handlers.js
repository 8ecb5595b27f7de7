module.exports.first = async () => ({ res: { body: 'first' } });
// A returned object keyed by binding name sets the outputs.
module.exports.second = async (context) => ({ res: { status: 200, body: 'second' }, out: { queued: context.executionContext.functionName } });
