export default async function (context, req) {
  context.res = { body: { esm: true, url: req.url } };
}
