import { createHash, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readFile, readdir, rename, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { SessiondError } from "../core/index.js";

/** The algorithm of every digest: `sha256:<64 hex>`. */
export const DIGEST_PREFIX = "sha256:";
const HEX64 = /^[0-9a-f]{64}$/;

/** True when `value` is a digest this store names blobs by. */
export function isDigest(value: unknown): value is string {
  return typeof value === "string" && value.startsWith(DIGEST_PREFIX) && HEX64.test(value.slice(DIGEST_PREFIX.length));
}

/** `sha256:<hex>` of some bytes. */
export function digestOf(bytes: Uint8Array): string {
  return DIGEST_PREFIX + createHash("sha256").update(bytes).digest("hex");
}

/** What a put did: the blob's name, and whether it wrote it (false: the store had it). */
export interface PutResult {
  readonly digest: string;
  readonly written: boolean;
}

/** What a sweep did. */
export interface SweepResult {
  /** Blobs kept (referenced, or written or used since the collection began). */
  readonly kept: number;
  readonly removed: number;
  readonly removedBytes: number;
}

/**
 * Blobs held while a snapshot, a restore or a reference is in the making: a collection that runs
 * meanwhile keeps them (see BlobStore.sweep). Release once what refers to them is durable.
 */
export class BlobLease {
  private readonly held = new Set<string>();
  private released = false;

  constructor(private readonly store: BlobStore) {}

  /** Holds `digest` until release (idempotent per lease). */
  pin(digest: string): void {
    if (this.released || this.held.has(digest)) return;
    this.held.add(digest);
    this.store.pinOne(digest);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const digest of this.held) this.store.unpinOne(digest);
    this.held.clear();
  }
}

/** Files smaller than this are read whole, hashed, and written only when new; larger ones stream. */
export const SMALL_FILE_BYTES = 1024 * 1024;
const READ_CHUNK = 1024 * 1024;

/**
 * A content-addressed blob store: `<root>/sha256/<2 hex>/<62 hex>`, each blob written to a
 * temporary file (fsynced when asked) and renamed to its name, so a crash never leaves a half blob
 * under a name. Blobs are immutable once named; a put of bytes the store holds writes nothing.
 *
 * Collection is mark and sweep (the caller marks, `sweep` removes the rest). A blob pinned by a
 * lease at any moment since the sweep began is kept, and a put or a `has` of a blob being removed
 * waits for the removal, then finds it missing and writes it again — so a snapshot taken while a
 * collection runs never refers to a blob the collection removes. One process owns the data dir,
 * so these in-memory guards see every writer.
 */
export class BlobStore {
  private readonly pins = new Map<string, number>();
  /** While a sweep runs: every digest pinned since it began. */
  private spared: Set<string> | undefined;
  /** Removals in flight, by digest. */
  private readonly removing = new Map<string, Promise<void>>();
  /** Temporary files being written now (a sweep removes the others: left by a crash). */
  private readonly writing = new Set<string>();
  private sweeping: Promise<SweepResult> | undefined;
  /** Bumped by each sweep that removed a blob: what was known present before may be gone. */
  private generation = 0;
  private readonly madeDirs = new Set<string>();
  /** The last put naming each digest now: the next one waits for it. */
  private readonly naming = new Map<string, Promise<void>>();

  constructor(
    /** `$SESSIOND_HOME/blobs`. */
    readonly root: string,
    private readonly options: { readonly fsync: boolean },
  ) {}

  /** A new lease to pin blobs with. */
  lease(): BlobLease {
    return new BlobLease(this);
  }

  /** The current generation: a blob seen present in this generation is present while no sweep ran. */
  get currentGeneration(): number {
    return this.generation;
  }

  /** The path of a blob (whether or not it exists). */
  pathOf(digest: string): string {
    if (!isDigest(digest)) throw new SessiondError("snapshot_damaged", { digest: String(digest), reason: "not a sha256 digest" });
    const hex = digest.slice(DIGEST_PREFIX.length);
    return join(this.root, "sha256", hex.slice(0, 2), hex.slice(2));
  }

  /** True when the store holds the blob. Pin it first when the answer must stay true. */
  async has(digest: string): Promise<boolean> {
    await this.removing.get(digest);
    try {
      return (await lstat(this.pathOf(digest))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
  }

  /** Stores bytes under their digest, pinned by `lease`. */
  async putBuffer(bytes: Uint8Array, lease: BlobLease): Promise<PutResult> {
    const digest = digestOf(bytes);
    lease.pin(digest);
    if (await this.has(digest)) return { digest, written: false };
    const temp = await this.tempFile();
    try {
      await temp.handle.writeFile(bytes);
      return { digest, written: await this.nameOnce(temp, digest) };
    } finally {
      await this.discard(temp);
    }
  }

  /**
   * Stores what an open file holds from its start, streaming: hashes as it copies into a
   * temporary blob, then names it (or drops it when the store had those bytes).
   * @returns the digest, whether it was written, and how many bytes were read
   */
  async putStream(source: FileHandle, lease: BlobLease): Promise<PutResult & { readonly size: number }> {
    const temp = await this.tempFile();
    try {
      const hash = createHash("sha256");
      const buffer = Buffer.allocUnsafe(READ_CHUNK);
      let size = 0;
      for (;;) {
        const { bytesRead } = await source.read(buffer, 0, buffer.length, size);
        if (bytesRead === 0) break;
        const chunk = buffer.subarray(0, bytesRead);
        hash.update(chunk);
        await temp.handle.write(chunk, 0, bytesRead, size);
        size += bytesRead;
      }
      const digest = DIGEST_PREFIX + hash.digest("hex");
      lease.pin(digest);
      return { digest, written: await this.nameOnce(temp, digest), size };
    } finally {
      await this.discard(temp);
    }
  }

  /** A blob's bytes. @throws snapshot_damaged when it is missing */
  async read(digest: string): Promise<Buffer> {
    await this.removing.get(digest);
    try {
      return await readFile(this.pathOf(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new SessiondError("snapshot_damaged", { digest, reason: "the blob is missing" }, { cause: err });
      throw err;
    }
  }

  /**
   * Mark and sweep. `mark` names the live blobs (from the references it reads); then every blob
   * that is not live and was not pinned since `mark` began is removed, with the temporary files
   * a crashed writer left. Whatever a writer pinned while (or before) the references were read
   * is kept, so a snapshot whose reference `mark` missed survives. One collection at a time: a
   * second call waits for the one running, then runs.
   */
  async sweep(mark: () => Promise<ReadonlySet<string>>): Promise<SweepResult> {
    while (this.sweeping) await this.sweeping.catch(() => undefined);
    const run = this.runSweep(mark);
    this.sweeping = run;
    try {
      return await run;
    } finally {
      this.sweeping = undefined;
    }
  }

  /** @internal BlobLease's */
  pinOne(digest: string): void {
    this.pins.set(digest, (this.pins.get(digest) ?? 0) + 1);
    this.spared?.add(digest);
  }

  /** @internal BlobLease's */
  unpinOne(digest: string): void {
    const count = (this.pins.get(digest) ?? 1) - 1;
    if (count <= 0) this.pins.delete(digest);
    else this.pins.set(digest, count);
  }

  private async runSweep(mark: () => Promise<ReadonlySet<string>>): Promise<SweepResult> {
    this.spared = new Set(this.pins.keys());
    let kept = 0;
    let removed = 0;
    let removedBytes = 0;
    try {
      const live = await mark();
      const top = join(this.root, "sha256");
      for (const prefix of await namesIn(top)) {
        const dir = join(top, prefix);
        for (const rest of await namesIn(dir)) {
          const digest = `${DIGEST_PREFIX}${prefix}${rest}`;
          if (!isDigest(digest) || live.has(digest) || this.spared.has(digest)) {
            kept++;
            continue;
          }
          // Checked and marked in one turn: a pin from now on waits for the removal (has()).
          const path = join(dir, rest);
          const removal = lstat(path)
            .then(async (stat) => {
              await unlink(path);
              removed++;
              removedBytes += stat.size;
            })
            .catch((err: NodeJS.ErrnoException) => {
              if (err.code !== "ENOENT") throw err;
            })
            .finally(() => this.removing.delete(digest));
          this.removing.set(digest, removal);
          this.generation++;
          await removal;
        }
      }
      const tmp = join(this.root, "tmp");
      for (const name of await namesIn(tmp)) {
        if (!this.writing.has(name)) await rm(join(tmp, name), { force: true });
      }
    } finally {
      this.spared = undefined;
    }
    return { kept, removed, removedBytes };
  }

  private async tempFile(): Promise<{ path: string; name: string; handle: FileHandle; closed?: boolean }> {
    const dir = join(this.root, "tmp");
    await this.ensureDir(dir);
    const name = `${process.pid}-${randomBytes(8).toString("hex")}`;
    this.writing.add(name);
    const path = join(dir, name);
    const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    return { path, name, handle };
  }

  private async discard(temp: { path: string; name: string; handle: FileHandle }): Promise<void> {
    await temp.handle.close().catch(() => undefined);
    await rm(temp.path, { force: true });
    this.writing.delete(temp.name);
  }

  /**
   * Names a complete temporary file as blob `digest`, unless the store has it by then: puts of
   * one digest take turns here, so two writers of the same bytes store (and count) them once.
   * @returns whether this put named it
   */
  private nameOnce(temp: { path: string; handle: FileHandle }, digest: string): Promise<boolean> {
    const before = this.naming.get(digest);
    const mine = (async () => {
      await before;
      if (await this.has(digest)) return false;
      if (this.options.fsync) await temp.handle.sync();
      await temp.handle.close();
      await this.name(temp.path, digest);
      return true;
    })();
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    this.naming.set(digest, settled);
    void settled.then(() => {
      if (this.naming.get(digest) === settled) this.naming.delete(digest);
    });
    return mine;
  }

  private async name(tempPath: string, digest: string): Promise<void> {
    const path = this.pathOf(digest);
    const dir = join(path, "..");
    await this.ensureDir(dir);
    try {
      await rename(tempPath, path);
    } catch (err) {
      // The folder went away since it was made (removed by hand): make it again, once.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      this.madeDirs.clear();
      await this.ensureDir(dir);
      await rename(tempPath, path);
    }
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    this.madeDirs.add(dir);
  }
}

async function namesIn(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}
