import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { type Config, type Session, dataPaths } from "../core/index.js";

/** Seed 002's artifact categories: one folder each in every session's workspace. */
export const ARTIFACT_CATEGORIES = ["logs", "screenshots", "files", "recordings", "devtools"] as const;

/** One of the five artifact folders. */
export type ArtifactCategory = (typeof ARTIFACT_CATEGORIES)[number];

const SAFE_DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * The folder name of a session's workspace: its name (human-readable), or its id when the name
 * is not a safe folder name. The live drivers (a shell's start cwd) and the server's artifact
 * routes both use it, so they name one folder.
 */
export function workspaceName(session: Pick<Session, "id" | "name">): string {
  if (SAFE_DIR_NAME.test(session.name)) return session.name;
  if (SAFE_DIR_NAME.test(session.id)) return session.id;
  return encodeURIComponent(session.id);
}

/** `$SESSIOND_HOME/workspaces/<name>` (see workspaceName). */
export function workspaceDir(config: Pick<Config, "home">, session: Pick<Session, "id" | "name">): string {
  return join(dataPaths(config).workspaces, workspaceName(session));
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
