// The benchmark's v3 function: a small JSON body, as ../../bare.js answers.
module.exports = async function () {
  return { body: { ok: true } };
};
