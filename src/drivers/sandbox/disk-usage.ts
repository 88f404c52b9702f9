import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

/**
 * The disk space a workspace takes: the blocks its files hold (so a sparse file costs what it
 * really uses), walked without following a symlink. Stops counting once past `stopAbove`: only
 * whether a session is over its limit matters, and a big workspace should not cost a full walk.
 */
export async function workspaceBytes(dir: string, stopAbove: number): Promise<number> {
  let total = 0;
  const pending = [dir];
  while (pending.length && total <= stopAbove) {
    const path = pending.pop()!;
    const stat = await lstat(path).catch(() => undefined);
    if (!stat) continue;
    total += stat.blocks * BLOCK_BYTES;
    if (!stat.isDirectory()) continue;
    for (const entry of await readdir(path).catch(() => [])) pending.push(join(path, entry));
  }
  return total;
}

/** st_blocks counts 512-byte units whatever the filesystem's block size. */
const BLOCK_BYTES = 512;
