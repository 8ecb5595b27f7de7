// index.js under "type": "module": loaded with import(); run is the named export.
export async function run(context) {
  context.res = { body: 'esm by package type' };
}
