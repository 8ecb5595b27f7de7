// Binary in, binary out: the request body arrives base64 (octet-stream) and goes back reversed.
module.exports = async function (context, req) {
  context.res = { headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(req.bufferBody).reverse() };
};
