/**
 * Loads an adapter whose framework is an optional peer dependency of sessiond. When the
 * framework is not installed, the import fails with one error that names what to install,
 * instead of a module-not-found stack from deep inside the adapter.
 *
 * @param adapter the entry point being imported, for the message (`sessiond/langgraph`)
 * @param peers the packages the adapter needs at run time, in the order to name them
 * @param load the adapter's own module, imported only after the peers were found
 * @param resolvePeer how a peer is looked for (import.meta.resolve; a test passes its own)
 * @throws Error naming the missing packages and the npm command that installs them
 */
export async function loadWithPeers<T>(adapter: string, peers: readonly string[], load: () => Promise<T>, resolvePeer: (name: string) => unknown = (name) => import.meta.resolve(name)): Promise<T> {
  const missing = peers.filter((name) => {
    try {
      resolvePeer(name);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) throw new Error(missingPeerMessage(adapter, missing));
  try {
    return await load();
  } catch (err) {
    // A peer present but unloadable (a broken install): still say which, with the cause.
    const code = (err as { code?: unknown }).code;
    const named = peers.find((name) => String((err as Error).message).includes(`'${name}`));
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "ERR_PACKAGE_PATH_NOT_EXPORTED") && named) throw new Error(missingPeerMessage(adapter, [named]), { cause: err });
    throw err;
  }
}

/** The one message a missing peer gets. */
export function missingPeerMessage(adapter: string, missing: readonly string[]): string {
  const list = missing.join(" and ");
  return `${adapter} needs ${list}, ${missing.length > 1 ? "optional peer dependencies" : "an optional peer dependency"} of sessiond that ${missing.length > 1 ? "are" : "is"} not installed: run npm install ${missing.join(" ")}`;
}
