import type { FileHandle } from "node:fs/promises";
import type { Session } from "../../core/index.js";

/** The user and group a live session's sandbox runs as; -1 leaves that id as it is. */
export interface SandboxOwner {
  readonly uid: number;
  readonly gid: number;
}

/** Ids the kernel accepts for chown, without -1 (which means "unchanged"). */
const isId = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value) && value >= 0 && value < 0xffff_ffff;

/**
 * Who should own the files and folders the server creates in a session's workspace: the
 * sandbox user recorded in `runtime_metadata.sandbox_uid` / `sandbox_gid` when the live session
 * runs as one, so the code in the session can change what the server wrote for it. undefined
 * when neither is recorded: the server's own user keeps them.
 */
export function sandboxOwner(session: Partial<Pick<Session, "runtime_metadata">>): SandboxOwner | undefined {
  const meta = session.runtime_metadata ?? {};
  const uid = isId(meta.sandbox_uid) ? meta.sandbox_uid : -1;
  const gid = isId(meta.sandbox_gid) ? meta.sandbox_gid : -1;
  return uid === -1 && gid === -1 ? undefined : { uid, gid };
}

/**
 * Gives a file or folder the server just created to the sandbox user, through its descriptor
 * (fchown), so the change lands on the very inode created, whatever the path now names.
 */
export async function giveToSandbox(handle: FileHandle, owner: SandboxOwner | undefined): Promise<void> {
  if (owner) await handle.chown(owner.uid, owner.gid);
}
