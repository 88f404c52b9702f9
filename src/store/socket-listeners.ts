import { readFileSync, readdirSync, readlinkSync } from "node:fs";

/** /proc/net/unix's flag for a socket that listens (__SO_ACCEPTCON). */
const LISTENING = "00010000";

/**
 * Whether another process listens on the Unix socket at `path` — read from /proc/net/unix, so
 * synchronously and without connecting; this process's own listeners do not count. Undefined
 * where /proc cannot tell (not Linux).
 *
 * Why: a data dir whose lock file and record were both removed by hand still has its owner
 * answering on its sockets, and that is what a would-be owner must not write around.
 */
export function listenedElsewhere(path: string): boolean | undefined {
  let table: string;
  try {
    table = readFileSync("/proc/net/unix", "utf8");
  } catch {
    return undefined;
  }
  const inodes: string[] = [];
  for (const line of table.split("\n").slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path (a path may hold spaces: it is the rest).
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8 || fields[3] !== LISTENING) continue;
    if (fields.slice(7).join(" ") === path) inodes.push(fields[6]!);
  }
  if (!inodes.length) return false;
  const own = ownSocketInodes();
  return inodes.some((inode) => !own.has(inode));
}

/** The inodes of this process's open sockets, from its fd links (`socket:[12345]`). */
function ownSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync("/proc/self/fd");
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // Closed since the listing.
    }
  }
  return inodes;
}
