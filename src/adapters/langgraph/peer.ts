/**
 * Loads an adapter whose framework is an optional peer dependency of sessiond. When the
 * framework is not installed, the import fails with one error that names what to install,
 * instead of a module-not-found stack from deep inside the adapter.
 *
 * @param adapter the entry point being imported, for the message (`sessiond/langgraph`)
 * @param peers the packages the adapter needs at run time, in the order to name them
 * @param load the adapter's own module
 * @throws Error naming the missing packages and the npm command that installs them, with
 *   `code` ERR_MODULE_NOT_FOUND, as Node gives a package that is not installed
 */
export async function loadWithPeers<T>(adapter: string, peers: readonly string[], load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const named = peers.find((name) => isNotFound(err, name));
    if (named === undefined) throw err;
    // Only on this path, so that a working install pays nothing: which of the others are missing too.
    const missing: string[] = [];
    for (const name of peers) {
      if (name === named) missing.push(name);
      else await import(name).catch((other: unknown) => isNotFound(other, name) && missing.push(name));
    }
    throw Object.assign(new Error(missingPeerMessage(adapter, missing), { cause: err }), { code: "ERR_MODULE_NOT_FOUND" });
  }
}

/** The one message a missing peer gets. */
export function missingPeerMessage(adapter: string, missing: readonly string[]): string {
  const list = missing.join(" and ");
  return `${adapter} needs ${list}, ${missing.length > 1 ? "optional peer dependencies" : "an optional peer dependency"} of sessiond that ${missing.length > 1 ? "are" : "is"} not installed: run npm install ${missing.join(" ")}`;
}

/** A failure to find the package `name` (or a path of it), as Node's ESM loader reports it. */
function isNotFound(err: unknown, name: string): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return (code === "ERR_MODULE_NOT_FOUND" || code === "ERR_PACKAGE_PATH_NOT_EXPORTED") && typeof message === "string" && message.includes(`'${name}`);
}
