/**
 * The floor of a first checkpoint's design, for bench/snapshots.ts: the work every content-addressed
 * snapshot of a folder must do, in JavaScript on this Node, and nothing else — each file opened
 * through its folder's descriptor (as the walk must, so that a folder swapped for a link cannot lead
 * it out), `fstat`ed, read whole into a pack buffer, `fstat`ed again (a file changing while it is
 * read), hashed (SHA-256), and the buffers written to one pack file on the thread pool, its
 * writeback started every 16 MB and the pack fsynced at the end. No manifest, no index, no stat
 * cache, no dedup, no size cap, no ignore rules: what the product adds on top of this is
 * bookkeeping. Measured beside `tar -cf` + fsync in the same run, it shows how far the goal is from
 * what the design allows at all (docs/checkpoints.md#speed).
 */
import { createHash } from "node:crypto";
import { closeSync, constants, fdatasync, fstatSync, fsyncSync, openSync, readSync, readdirSync, rmSync, writev } from "node:fs";
import { join } from "node:path";

/** As the pack writer's (src/snapshots/blob-store.ts): buffers written together, early writeback. */
const BUFFER_BYTES = 4 * 1024 * 1024;
const BUFFERS_IN_FLIGHT = 4;
const EARLY_SYNC_BYTES = 16 * 1024 * 1024;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NOCTTY | constants.O_NONBLOCK;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** Reads, hashes and packs every regular file under `dir` into `pack` (removed after). @returns the files done */
export async function snapshotFloor(dir: string, pack: string): Promise<number> {
  const fd = openSync(pack, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  const writes = new Set<Promise<void>>();
  const spare: Buffer[] = [];
  let offset = 0;
  let unsynced = 0;
  let syncing: Promise<void> | undefined;
  let buffer: Buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  let used = 0;
  let files = 0;

  const write = (full: Buffer, length: number): void => {
    const at = offset;
    offset += length;
    const done: Promise<void> = new Promise<void>((resolve, reject) => writev(fd, [full.subarray(0, length)], at, (err) => (err ? reject(err) : resolve()))).then(() => {
      writes.delete(done);
      spare.push(full);
      unsynced += length;
      if (!syncing && unsynced >= EARLY_SYNC_BYTES) {
        unsynced = 0;
        syncing = new Promise<void>((resolve) => fdatasync(fd, () => resolve())).then(() => {
          syncing = undefined;
        });
      }
    });
    writes.add(done);
  };
  const flush = async (): Promise<void> => {
    if (used === 0) return;
    write(buffer, used);
    while (writes.size >= BUFFERS_IN_FLIGHT) await Promise.race(writes);
    buffer = spare.pop() ?? Buffer.allocUnsafe(BUFFER_BYTES);
    used = 0;
  };
  const walk = async (folder: string): Promise<void> => {
    const dirFd = openSync(folder, DIR_FLAGS);
    try {
      for (const entry of readdirSync(folder, { withFileTypes: true })) {
        if (entry.isDirectory()) {
          await walk(join(folder, entry.name));
          continue;
        }
        if (!entry.isFile()) continue;
        const file = openSync(`/proc/self/fd/${dirFd}/${entry.name}`, READ_FLAGS);
        try {
          const size = Number(fstatSync(file, { bigint: true }).size);
          if (size > BUFFER_BYTES) continue;
          if (used + size > BUFFER_BYTES) await flush();
          for (let read = 0; read < size; ) {
            const n = readSync(file, buffer, used + read, size - read, read);
            if (n === 0) break;
            read += n;
          }
          fstatSync(file, { bigint: true });
          createHash("sha256").update(buffer.subarray(used, used + size)).digest("hex");
          used += size;
          files++;
        } finally {
          closeSync(file);
        }
      }
    } finally {
      closeSync(dirFd);
    }
  };

  try {
    await walk(dir);
    await flush();
    while (writes.size > 0 || syncing) {
      await Promise.all(writes);
      await syncing;
    }
    fsyncSync(fd);
    return files;
  } finally {
    closeSync(fd);
    rmSync(pack, { force: true });
  }
}
