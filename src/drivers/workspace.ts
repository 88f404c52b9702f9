import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { type Config, type Session, dataPaths } from "../core/index.js";

/** Seed 002's artifact categories: one folder each in every session's workspace. */
export const ARTIFACT_CATEGORIES = ["logs", "screenshots", "files", "recordings", "devtools"] as const;

// The same rule as the server's Workspaces.dirOf, so both name one folder per session.
const SAFE_DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** `$SESSIOND_HOME/workspaces/<name>` (the id when the name is not a safe folder name). */
export function workspaceDir(config: Pick<Config, "home">, session: Pick<Session, "id" | "name">): string {
  return join(dataPaths(config).workspaces, SAFE_DIR_NAME.test(session.name) ? session.name : session.id);
}

/** Creates a session's workspace with its artifact folders. @returns the workspace folder */
export async function ensureWorkspace(config: Pick<Config, "home">, session: Pick<Session, "id" | "name">): Promise<string> {
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
