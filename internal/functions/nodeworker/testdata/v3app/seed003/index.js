// Seed 003 as a Node v3 function: the keyVault input binding hands the function the secret.
module.exports = async function (context, req, mySecret) {
  context.log('JavaScript HTTP trigger function processed a request.');
  context.res = {
    status: 200,
    body: { secret: context.bindings.mySecret, sameAsArgument: mySecret === context.bindings.mySecret, method: req.method },
  };
};
