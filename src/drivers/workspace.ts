import { type Dirent, existsSync } from "node:fs";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type Config, type Session, dataPaths, isValidName, nameNamespace, workspaceName } from "../core/index.js";

/** Seed 002's artifact categories: one folder each in every session's workspace. */
export const ARTIFACT_CATEGORIES = ["logs", "screenshots", "files", "recordings", "devtools"] as const;

/** One of the five artifact folders. */
export type ArtifactCategory = (typeof ARTIFACT_CATEGORIES)[number];

export { workspaceName } from "../core/index.js";

/** In the workspaces folder once adoptLegacyWorkspaces has run there. */
const NAMES_PER_AGENT_MARKER = ".names-per-agent";

/**
 * Moves the workspace of each session with an agent_id out of the folder named by its name alone,
 * where sessiond kept it while names were unique across the store, to its own (workspaceName).
 * Left there, its files would be lost to it and found by the next session of that name without
 * an agent_id. Call at server start, before any request: then a name's one holder is the folder's
 * owner. A marker file makes later starts skip the scan.
 * @param find the session with this bare name (one holder; anything else is skipped)
 * @returns how many folders moved
 */
export async function adoptLegacyWorkspaces(
  config: Pick<Config, "home">,
  find: (name: string) => Promise<Pick<Session, "id" | "name" | "agent_id"> | undefined>,
): Promise<number> {
  const root = dataPaths(config).workspaces;
  if (existsSync(join(root, NAMES_PER_AGENT_MARKER))) return 0;
  let entries: Dirent[];
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  let moved = 0;
  for (const entry of entries) {
    if (!entry.isDirectory() || !isValidName(entry.name)) continue;
    const session = await find(entry.name).catch(() => undefined);
    if (!session || session.name !== entry.name || nameNamespace(session.agent_id) === "") continue;
    const target = join(root, workspaceName(session));
    if (existsSync(target)) continue;
    await rename(join(root, entry.name), target);
    moved++;
  }
  await writeFile(join(root, NAMES_PER_AGENT_MARKER), "", { mode: 0o600 });
  return moved;
}

/** `$SESSIOND_HOME/workspaces/<name>` (see workspaceName). */
export function workspaceDir(config: Pick<Config, "home">, session: Parameters<typeof workspaceName>[0]): string {
  return join(dataPaths(config).workspaces, workspaceName(session));
}

/**
 * Seed 002's SessionPaths of a session: its workspace folder (workspaceDir) and the folder of each
 * artifact category in it, as the server's artifact routes and the live drivers use them. Named,
 * not created (ensureWorkspace creates them).
 */
export function sessionPaths(
  config: Pick<Config, "home">,
  session: Parameters<typeof workspaceName>[0],
): { readonly root: string } & Readonly<Record<ArtifactCategory, string>> {
  const root = workspaceDir(config, session);
  const folders = Object.fromEntries(ARTIFACT_CATEGORIES.map((category) => [category, join(root, category)]));
  return { root, ...(folders as Record<ArtifactCategory, string>) };
}

/** Creates a session's workspace with its artifact folders. @returns the workspace folder */
export async function ensureWorkspace(config: Pick<Config, "home">, session: Parameters<typeof workspaceName>[0]): Promise<string> {
  const dir = workspaceDir(config, session);
  for (const category of ARTIFACT_CATEGORIES) await mkdir(join(dir, category), { recursive: true, mode: 0o700 });
  return dir;
}

/** `$SESSIOND_HOME/run/<session id>`: a live process's private files (its rc, its stderr pipe). */
export function runtimeDir(config: Pick<Config, "home">, sessionId: string): string {
  return join(config.home, "run", sessionId);
}

/** Creates an empty runtime folder for a session (removing what a previous process left). */
export async function freshRuntimeDir(config: Pick<Config, "home">, sessionId: string): Promise<string> {
  const dir = runtimeDir(config, sessionId);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** Removes a session's runtime folder (after its process ended). */
export async function removeRuntimeDir(config: Pick<Config, "home">, sessionId: string): Promise<void> {
  await rm(runtimeDir(config, sessionId), { recursive: true, force: true });
}
