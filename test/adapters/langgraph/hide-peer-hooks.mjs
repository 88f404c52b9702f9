// Resolve hook for hide-peer.mjs: the hidden packages fail to resolve exactly as a missing package does.
let hidden = [];

export function initialize(data) {
  hidden = data.hidden;
}

export async function resolve(specifier, context, next) {
  if (hidden.some((name) => specifier === name || specifier.startsWith(`${name}/`))) {
    const err = new Error(`Cannot find package '${specifier}' imported from ${context.parentURL}`);
    err.code = "ERR_MODULE_NOT_FOUND";
    throw err;
  }
  return next(specifier, context);
}
