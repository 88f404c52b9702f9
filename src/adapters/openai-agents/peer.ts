import { missingPackage } from "../../core/missing-package.js";

/** The package this adapter plugs into: an optional peer dependency of sessiond, installed by the app that uses it. */
export const PEER = "@openai/agents-core";

/**
 * Imports `specifier` (the adapter's peer); when it, or a package it needs, cannot be found, throws
 * one Error that names the package to install instead of Node's module-not-found.
 * `load` is the import itself, a parameter so that a test can hand it one that fails.
 */
export async function loadPeer<T>(specifier: string, load: (specifier: string) => Promise<unknown> = (s) => import(s)): Promise<T> {
  try {
    return (await load(specifier)) as T;
  } catch (err) {
    const missing = missingPackage(err);
    if (missing === undefined) throw err;
    const message =
      missing === specifier
        ? `sessiond/openai-agents needs the package ${specifier}, which is not installed: npm install ${specifier}`
        : `sessiond/openai-agents needs the package ${specifier}, which cannot load without ${missing}: npm install ${missing}`;
    // No `cause`: Node would print the module-not-found and its stack under this one, which says it all.
    throw new Error(message);
  }
}

/**
 * The peer's runtime: its error class and protocol schemas. Loaded at the top of the module graph,
 * so importing `sessiond/openai-agents` without the peer fails right there, with the message above.
 */
export const agentsCore: typeof import("@openai/agents-core") = await loadPeer(PEER);
