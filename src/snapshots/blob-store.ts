import { createHash, randomBytes } from "node:crypto";
import { closeSync, constants, fdatasync, fsyncSync, openSync, readSync, write, writev } from "node:fs";
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

/** Where a packed blob lies. */
interface PackedAt {
  readonly pack: string;
  readonly offset: number;
  readonly length: number;
}

/** A pack's index file: its blobs as `[digest, offset, length]`. */
interface PackIndexFile {
  readonly version: 1;
  readonly objects: readonly (readonly [string, number, number])[];
}

/**
 * Blobs held while a snapshot, a restore or a reference is in the making: a collection that runs
 * meanwhile keeps them (see BlobStore.sweep). Release once what refers to them is durable.
 */
export class BlobLease {
  private readonly held = new Set<string>();
  private readonly groups: (readonly (readonly string[])[])[] = [];
  private released = false;

  constructor(private readonly store: BlobStore) {}

  /** Holds `digest` until release (idempotent per lease). */
  pin(digest: string): void {
    if (this.released || this.held.has(digest)) return;
    this.held.add(digest);
    this.store.pinOne(digest);
  }

  /**
   * Holds every digest of `digests` (lists of them) until release, as one group: costs the same
   * for ten thousand as for one (a snapshot building on the last one's tree pins all of it).
   */
  pinAll(digests: readonly (readonly string[])[]): void {
    if (this.released) return;
    this.groups.push(digests);
    this.store.pinGroup(digests);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const digest of this.held) this.store.unpinOne(digest);
    this.held.clear();
    for (const group of this.groups) this.store.unpinGroup(group);
    this.groups.length = 0;
  }
}

/** Files up to this size go into packs, read whole; larger ones are blobs of their own, streamed. */
export const SMALL_FILE_BYTES = 1024 * 1024;
const READ_CHUNK = 1024 * 1024;
/** A pack writer gathers small blobs up to this much before it writes them. */
const PACK_BUFFER_BYTES = 4 * 1024 * 1024;
/** A blob this large that is not in a pack buffer already is written from where it lies, not copied into one (a manifest of thousands of files). */
const DIRECT_WRITE_BYTES = 256 * 1024;
/** Buffers a pack writer has in flight at most (PackWriter.room waits past that). */
const PACK_BUFFERS = 4;
/**
 * A pack writer of a store that fsyncs starts writing back what it wrote every this many bytes,
 * on the thread pool, while it goes on reading and hashing: the fsync that makes the pack durable
 * then has only the rest to wait for (a first snapshot of 200 MB would otherwise wait for all of it
 * at the end, after the work that could have hidden it).
 */
const EARLY_SYNC_BYTES = 16 * 1024 * 1024;
/** A pack whose live bytes fall under this share of it is rewritten with only those (when nothing pins it). */
const REPACK_BELOW = 0.5;

/**
 * A content-addressed blob store under `<root>`. Small blobs (the contents of most files, and
 * manifests) are written together, one pack per snapshot: `packs/<id>.pack` with its index
 * `packs/<id>.idx`, so a snapshot of 10,000 files creates two files and fsyncs twice instead of
 * 10,000 times. Large blobs are files of their own: `sha256/<2 hex>/<62 hex>`. Either way a blob
 * exists once its name does — the index renamed into place after the pack, a loose blob renamed
 * from a temporary file — so a crash never leaves a half blob under a name. Blobs are immutable;
 * a put of bytes the store holds writes nothing.
 *
 * Collection is mark and sweep (the caller marks, `sweep` removes the rest): a pack goes when none
 * of its blobs is live, and is rewritten with the live ones when they are under half of it. A blob
 * pinned by a lease at any moment since the collection began is kept (with its whole pack), and a
 * put of a blob being removed waits for the removal, then writes it again — so a snapshot taken
 * while a collection runs never refers to a blob the collection removes. One process owns the data
 * dir, so these in-memory guards see every writer.
 */
export class BlobStore {
  private readonly pins = new Map<string, number>();
  /** Digests pinned as groups (BlobLease.pinAll), with how many leases hold each group. */
  private readonly pinnedGroups = new Map<readonly (readonly string[])[], number>();
  /** While a collection runs: every digest pinned since it began. */
  private spared: Set<string> | undefined;
  /** Loose blob removals in flight, by digest. */
  private readonly removing = new Map<string, Promise<void>>();
  /** Temporary files being written now (a sweep removes the others: left by a crash). */
  private readonly writing = new Set<string>();
  private sweeping: Promise<SweepResult> | undefined;
  /** Bumped by each sweep that removed a blob: what was known present before may be gone. */
  private generation = 0;
  private readonly madeDirs = new Set<string>();
  /** The last put naming each loose digest now: the next one waits for it. */
  private readonly naming = new Map<string, Promise<void>>();
  /** Every packed blob, by digest (loaded from the index files on first use). */
  private packed: Map<string, PackedAt> | undefined;
  private loading: Promise<Map<string, PackedAt>> | undefined;
  /** Each pack's blobs, by pack id. */
  private readonly packs = new Map<string, PackIndexFile["objects"]>();

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

  /** The path of a loose blob (whether or not it exists). */
  pathOf(digest: string): string {
    if (!isDigest(digest)) throw new SessiondError("snapshot_damaged", { digest: String(digest), reason: "not a sha256 digest" });
    const hex = digest.slice(DIGEST_PREFIX.length);
    return join(this.root, "sha256", hex.slice(0, 2), hex.slice(2));
  }

  /** Loads the pack indexes (once); every other call needs them. */
  async ready(): Promise<void> {
    if (this.packed) return;
    this.loading ??= this.loadPacks();
    this.packed = await this.loading;
  }

  /** True when the store holds the blob (packed or loose). Pin it first when the answer must stay true. */
  async has(digest: string): Promise<boolean> {
    await this.ready();
    if (this.packed!.has(digest)) return true;
    await this.removing.get(digest);
    try {
      return (await lstat(this.pathOf(digest))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
  }

  /** True when the blob is in a pack (after ready()): no I/O. */
  hasPacked(digest: string): boolean {
    return this.packed?.has(digest) ?? false;
  }

  /** A new pack for one snapshot's small blobs: add to it, then finish (or abort) it. */
  async openPack(lease: BlobLease, options: { readonly repack?: boolean } = {}): Promise<PackWriter> {
    await this.ready();
    const dir = join(this.root, "tmp");
    await this.ensureDir(dir);
    const id = `${Date.now().toString(36)}-${randomBytes(8).toString("hex")}`;
    this.writing.add(`${id}.pack`);
    return new PackWriter(this, lease, id, join(dir, `${id}.pack`), options.repack ?? false);
  }

  /** Stores bytes under their digest as a loose blob, pinned by `lease`. */
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
   * Stores what an open file holds from its start as a loose blob, streaming: hashes as it
   * copies into a temporary blob, then names it (or drops it when the store had those bytes).
   * @returns the digest, whether it was written, and how many bytes were read
   */
  async putStream(source: FileHandle, lease: BlobLease): Promise<PutResult & { readonly size: number }> {
    await this.ready();
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
      if (this.packed!.has(digest)) return { digest, written: false, size };
      return { digest, written: await this.nameOnce(temp, digest), size };
    } finally {
      await this.discard(temp);
    }
  }

  /** A blob's bytes. @throws snapshot_damaged when it is missing */
  async read(digest: string): Promise<Buffer> {
    await this.ready();
    const at = this.packed!.get(digest);
    if (at) return this.readPacked(digest, at);
    await this.removing.get(digest);
    try {
      return await readFile(this.pathOf(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new SessiondError("snapshot_damaged", { digest, reason: "the blob is missing" }, { cause: err });
      throw err;
    }
  }

  /** How many distinct blobs the store holds, packed and loose, and their bytes. */
  async inventory(): Promise<{ readonly blobs: number; readonly bytes: number; readonly packs: number }> {
    await this.ready();
    let blobs = this.packed!.size;
    let bytes = 0;
    for (const at of this.packed!.values()) bytes += at.length;
    const top = join(this.root, "sha256");
    for (const prefix of await namesIn(top)) {
      for (const rest of await namesIn(join(top, prefix))) {
        const digest = `${DIGEST_PREFIX}${prefix}${rest}`;
        if (!isDigest(digest) || this.packed!.has(digest)) continue;
        blobs++;
        bytes += (await lstat(join(top, prefix, rest)).catch(() => ({ size: 0 }))).size;
      }
    }
    return { blobs, bytes, packs: this.packs.size };
  }

  /** Where a packed blob lies, for a reader that copies it out (after ready()); undefined when loose or missing. */
  locate(digest: string): { readonly path: string; readonly offset: number; readonly length: number } | undefined {
    const at = this.packed?.get(digest);
    return at && { path: this.packPath(at.pack), offset: at.offset, length: at.length };
  }

  /**
   * Mark and sweep. `mark` names the live blobs (from the references it reads); then every blob
   * that is not live and was not pinned since `mark` began is removed (a pack when none of its
   * blobs stays, rewritten with the live ones when they are under half of it), with the temporary
   * files a crashed writer left. Whatever a writer pinned while (or before) the references were
   * read is kept, so a snapshot whose reference `mark` missed survives. One collection at a time:
   * a second call waits for the one running, then runs.
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
  pinGroup(digests: readonly (readonly string[])[]): void {
    this.pinnedGroups.set(digests, (this.pinnedGroups.get(digests) ?? 0) + 1);
    if (this.spared) for (const part of digests) for (const digest of part) this.spared.add(digest);
  }

  /** @internal BlobLease's */
  unpinGroup(digests: readonly (readonly string[])[]): void {
    const count = (this.pinnedGroups.get(digests) ?? 1) - 1;
    if (count <= 0) this.pinnedGroups.delete(digests);
    else this.pinnedGroups.set(digests, count);
  }

  /** @internal BlobLease's */
  unpinOne(digest: string): void {
    const count = (this.pins.get(digest) ?? 1) - 1;
    if (count <= 0) this.pins.delete(digest);
    else this.pins.set(digest, count);
  }

  /** @internal PackWriter's: names a complete pack and its index, and makes its blobs present. */
  async commitPack(id: string, tempPath: string, objects: PackIndexFile["objects"], replace: boolean): Promise<void> {
    const dir = join(this.root, "packs");
    const indexTemp = join(this.root, "tmp", `${id}.idx`);
    this.writing.add(`${id}.idx`);
    try {
      await this.ensureDir(dir);
      // Still "being written" until its index is named: a collection meanwhile must not take it for a crashed writer's.
      await rename(tempPath, this.packPath(id));
      const handle = await open(indexTemp, "wx", 0o600);
      try {
        await handle.writeFile(JSON.stringify({ version: 1, objects } satisfies PackIndexFile));
        if (this.options.fsync) await handle.sync();
      } finally {
        await handle.close();
      }
      // The index's name is the commit point: a pack without one is a crashed writer's, and goes.
      await rename(indexTemp, join(dir, `${id}.idx`));
    } catch (err) {
      await rm(indexTemp, { force: true });
      await rm(this.packPath(id), { force: true });
      await rm(tempPath, { force: true });
      throw err;
    } finally {
      this.writing.delete(`${id}.idx`);
      this.writing.delete(`${id}.pack`);
    }
    this.packs.set(id, objects);
    for (const [digest, offset, length] of objects) {
      if (replace || !this.packed!.has(digest)) this.packed!.set(digest, { pack: id, offset, length });
    }
  }

  /** @internal PackWriter's */
  async abortPack(id: string, tempPath: string): Promise<void> {
    await rm(tempPath, { force: true });
    this.writing.delete(`${id}.pack`);
  }

  /** @internal PackWriter's */
  get fsync(): boolean {
    return this.options.fsync;
  }

  private packPath(id: string): string {
    return join(this.root, "packs", `${id}.pack`);
  }

  private async readPacked(digest: string, at: PackedAt): Promise<Buffer> {
    const handle = await open(this.packPath(at.pack), "r").catch((err: unknown) => {
      throw new SessiondError("snapshot_damaged", { digest, reason: `its pack ${at.pack} is missing` }, { cause: err });
    });
    try {
      const buffer = Buffer.allocUnsafe(at.length);
      const { bytesRead } = await handle.read(buffer, 0, at.length, at.offset);
      if (bytesRead !== at.length) throw new SessiondError("snapshot_damaged", { digest, reason: `its pack ${at.pack} is cut short` });
      return buffer;
    } finally {
      await handle.close();
    }
  }

  private async loadPacks(): Promise<Map<string, PackedAt>> {
    const packed = new Map<string, PackedAt>();
    const dir = join(this.root, "packs");
    for (const name of await namesIn(dir)) {
      if (!name.endsWith(".idx")) continue;
      const id = name.slice(0, -4);
      let index: PackIndexFile;
      try {
        index = JSON.parse(await readFile(join(dir, name), "utf8")) as PackIndexFile;
      } catch {
        continue; // unreadable: its blobs count as missing, and a restore needing them says so
      }
      if (index.version !== 1 || !Array.isArray(index.objects)) continue;
      this.packs.set(id, index.objects);
      for (const [digest, offset, length] of index.objects) if (!packed.has(digest)) packed.set(digest, { pack: id, offset, length });
    }
    return packed;
  }

  private async runSweep(mark: () => Promise<ReadonlySet<string>>): Promise<SweepResult> {
    await this.ready();
    this.spared = new Set(this.pins.keys());
    for (const group of this.pinnedGroups.keys()) for (const part of group) for (const digest of part) this.spared.add(digest);
    let kept = 0;
    let removed = 0;
    let removedBytes = 0;
    try {
      const live = await mark();
      const spare = (digest: string) => live.has(digest) || this.spared!.has(digest);
      // Loose blobs.
      const top = join(this.root, "sha256");
      for (const prefix of await namesIn(top)) {
        const dir = join(top, prefix);
        for (const rest of await namesIn(dir)) {
          const digest = `${DIGEST_PREFIX}${prefix}${rest}`;
          if (!isDigest(digest) || spare(digest)) {
            kept++;
            continue;
          }
          // Checked and marked in one turn: a put from now on waits for the removal.
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
      // Packs.
      for (const [id, objects] of [...this.packs]) {
        if (objects.some(([digest]) => this.spared!.has(digest))) {
          kept += objects.length;
          continue;
        }
        const liveObjects = objects.filter(([digest]) => live.has(digest) && this.packed!.get(digest)?.pack === id);
        const liveBytes = liveObjects.reduce((sum, [, , length]) => sum + length, 0);
        const allBytes = objects.reduce((sum, [, , length]) => sum + length, 0);
        if (liveObjects.length && liveBytes >= REPACK_BELOW * allBytes) {
          kept += objects.length;
          continue;
        }
        if (liveObjects.length) {
          await this.repack(id, liveObjects);
          // A writer may have found one of its other blobs here while the live ones were copied
          // (which the copy pinned itself): then the pack stays, the live ones now read from the
          // new one, until a later collection.
          const copied = new Set(liveObjects.map(([digest]) => digest));
          if (objects.some(([digest]) => !copied.has(digest) && this.spared!.has(digest))) {
            kept += objects.length;
            continue;
          }
        }
        // Out of the index in the same turn as the decision: a put from now on writes these again.
        for (const [digest] of objects) if (this.packed!.get(digest)?.pack === id) this.packed!.delete(digest);
        this.packs.delete(id);
        this.generation++;
        await rm(join(this.root, "packs", `${id}.idx`), { force: true });
        await rm(this.packPath(id), { force: true });
        removed += objects.length - liveObjects.length;
        removedBytes += allBytes - liveBytes;
        kept += liveObjects.length;
      }
      for (const name of await namesIn(join(this.root, "packs"))) {
        // A pack without its index: a writer crashed before naming it.
        if (name.endsWith(".pack") && !this.packs.has(name.slice(0, -5)) && !this.writing.has(name)) await rm(join(this.root, "packs", name), { force: true });
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

  /** Writes a pack's live blobs into a new pack, which takes their place in the index. */
  private async repack(id: string, objects: PackIndexFile["objects"]): Promise<void> {
    const lease = this.lease();
    const writer = await this.openPack(lease, { repack: true });
    try {
      const fd = openSync(this.packPath(id), "r");
      try {
        for (const [digest, offset, length] of objects) {
          const buffer = Buffer.allocUnsafe(length);
          if (readSync(fd, buffer, 0, length, offset) !== length) throw new SessiondError("snapshot_damaged", { digest, reason: `its pack ${id} is cut short` });
          writer.add(buffer, digest);
          await writer.room();
        }
      } finally {
        closeSync(fd);
      }
      await writer.finish({ replace: true });
    } catch (err) {
      await writer.abort();
      throw err;
    } finally {
      lease.release();
    }
  }

  private async tempFile(): Promise<{ path: string; name: string; handle: FileHandle }> {
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
   * Names a complete temporary file as loose blob `digest`, unless the store has it by then:
   * puts of one digest take turns here, so two writers of the same bytes store (and count) them once.
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

  /** @internal */
  async ensureDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    this.madeDirs.add(dir);
  }
}

/**
 * One snapshot's pack: small blobs gathered in a buffer and appended to a temporary file, then
 * fsynced once and named with its index. A full buffer is written on the thread pool while the
 * next one fills, so the snapshot's reading and hashing go on during its writes (they cost as
 * much: page cache the kernel must find and fill); `room()` waits while PACK_BUFFERS are in
 * flight. Until `finish`, none of its blobs exists for anyone else; `abort` leaves nothing.
 */
export class PackWriter {
  private fd: number | undefined;
  private offset = 0;
  private readonly objects: [string, number, number][] = [];
  private readonly inPack = new Set<string>();
  private buffer: Buffer | undefined;
  /** Bytes in `buffer`, not yet written; they end at `offset`. */
  private buffered = 0;
  /** Writes in flight; `room()` waits for one of them to end. */
  private readonly writes = new Set<Promise<void>>();
  /** Bytes written since the last early writeback began (see EARLY_SYNC_BYTES). */
  private unsynced = 0;
  /** An early writeback in flight. */
  private syncing: Promise<void> | undefined;
  /** The first error a write or a writeback met: the pack then fails. */
  private failure: Error | undefined;
  /** Bytes added that the store did not have. */
  written = 0;

  constructor(
    private readonly store: BlobStore,
    private readonly lease: BlobLease,
    readonly id: string,
    private readonly tempPath: string,
    /** A repack: every blob added is written, the store's copy being the one to replace. */
    private readonly copying = false,
  ) {}

  /**
   * Adds a blob unless the store or this pack has it (pinned either way). Its bytes are copied
   * before this returns, except those of a blob of DIRECT_WRITE_BYTES or more (a manifest of many
   * files), which are written from where they lie: the caller must not change them until `finish`.
   * @returns its digest and whether it was written
   */
  add(bytes: Buffer, knownDigest?: string): PutResult {
    return this.put(knownDigest ?? digestOf(bytes), [bytes], bytes.length);
  }

  /**
   * Adds the blob `pieces` make, one after the other (a manifest from its folders' records),
   * hashed and written piece by piece: never joined in one buffer of its own. As `add`.
   */
  addPieces(pieces: readonly Buffer[]): PutResult {
    const hash = createHash("sha256");
    let length = 0;
    for (const piece of pieces) {
      hash.update(piece);
      length += piece.length;
    }
    return this.put(DIGEST_PREFIX + hash.digest("hex"), pieces, length);
  }

  /**
   * Where the next blob of up to `size` bytes (at most a buffer) would lie: a caller that reads a
   * file into it and then adds those bytes saves their copy. Valid until the next call on the
   * writer; bytes left there without an `add` are overwritten by the next blob.
   */
  space(size: number): Buffer {
    if (this.buffered + size > PACK_BUFFER_BYTES) this.flush();
    this.buffer ??= takePackBuffer();
    return this.buffer.subarray(this.buffered, this.buffered + size);
  }

  /** Resolves once fewer than PACK_BUFFERS writes are in flight; undefined when so already (no promise per file). */
  room(): Promise<void> | undefined {
    return this.writes.size >= PACK_BUFFERS ? this.waitForRoom() : undefined;
  }

  /** Makes the pack's blobs exist (fsynced first when the store is). A pack with nothing in it leaves no file. */
  async finish(options: { replace?: boolean } = {}): Promise<void> {
    if (this.fd === undefined) return this.store.abortPack(this.id, this.tempPath);
    this.flush();
    await this.settled();
    if (this.failure) throw this.failure;
    if (this.store.fsync) fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
    this.giveBackBuffer();
    await this.store.commitPack(this.id, this.tempPath, this.objects, options.replace ?? false);
  }

  /** Drops the pack: none of its blobs was ever visible. */
  async abort(): Promise<void> {
    // Not closed under a write or a writeback in flight: its descriptor number could be another file's by then.
    await this.settled();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.giveBackBuffer();
    await this.store.abortPack(this.id, this.tempPath);
  }

  /** A blob of `length` bytes named `digest`, unless the store or this pack has it (pinned either way). */
  private put(digest: string, pieces: readonly Buffer[], length: number): PutResult {
    this.lease.pin(digest);
    // A repack copies blobs the store has (in the pack it replaces): only its own repeats are skipped.
    if (this.inPack.has(digest) || (!this.copying && this.store.hasPacked(digest))) return { digest, written: false };
    this.fd ??= openSync(this.tempPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    if (pieces.length === 1 && this.isSpace(pieces[0]!)) {
      // Read into space(): already where it belongs.
      this.buffered += length;
    } else if (length >= DIRECT_WRITE_BYTES) {
      // Written from where the pieces lie, on the thread pool: the thread reading files goes on.
      this.flush();
      this.write(pieces, this.offset);
    } else {
      if (this.buffered + length > PACK_BUFFER_BYTES) this.flush();
      this.buffer ??= takePackBuffer();
      for (const piece of pieces) this.buffered += piece.copy(this.buffer, this.buffered);
    }
    this.objects.push([digest, this.offset, length]);
    this.inPack.add(digest);
    this.offset += length;
    this.written += length;
    return { digest, written: true };
  }

  private async waitForRoom(): Promise<void> {
    while (this.writes.size >= PACK_BUFFERS) await Promise.race(this.writes);
  }

  /** Once no write is in flight: the buffer being filled goes back to the pool, for the next pack (written ones went back as their writes ended). */
  private giveBackBuffer(): void {
    if (this.buffer) givePackBuffer(this.buffer);
    this.buffer = undefined;
    this.buffered = 0;
  }

  /** Whether `bytes` start where space() puts the next blob. */
  private isSpace(bytes: Buffer): boolean {
    const buffer = this.buffer;
    return buffer !== undefined && bytes.buffer === buffer.buffer && bytes.byteOffset === buffer.byteOffset + this.buffered && this.buffered + bytes.length <= PACK_BUFFER_BYTES;
  }

  /** Starts writing what is buffered (small blobs go to the file together, in few writes). */
  private flush(): void {
    const buffer = this.buffer;
    if (this.buffered === 0 || buffer === undefined) return;
    this.buffer = undefined;
    this.write([buffer.subarray(0, this.buffered)], this.offset - this.buffered, () => givePackBuffer(buffer));
    this.buffered = 0;
  }

  /** Writes the pieces at `position` on the thread pool, and starts an early writeback when enough were written since the last. */
  private write(pieces: readonly Buffer[], position: number, done?: () => void): void {
    const fd = this.fd!;
    const written = writeAllAt(fd, pieces, position).then(
      (length) => {
        this.writes.delete(written);
        done?.();
        this.unsynced += length;
        if (this.store.fsync && !this.syncing && this.unsynced >= EARLY_SYNC_BYTES) this.writeBack(fd);
      },
      (err: Error) => {
        this.writes.delete(written);
        this.failure ??= err;
      },
    );
    this.writes.add(written);
  }

  private writeBack(fd: number): void {
    this.unsynced = 0;
    this.syncing = new Promise((resolve) => {
      fdatasync(fd, (err) => {
        if (err) this.failure ??= err;
        this.syncing = undefined;
        resolve();
      });
    });
  }

  /** Resolves once no write and no writeback is in flight. */
  private async settled(): Promise<void> {
    while (this.writes.size > 0 || this.syncing) {
      await Promise.all(this.writes);
      await this.syncing;
    }
  }
}

/**
 * Pack buffers no pack uses now, for the next one: a new buffer costs a page fault per 4 KiB the
 * first time it is filled (on a VM, more than the copy into it), and every snapshot fills some.
 */
const sparePackBuffers: Buffer[] = [];

function takePackBuffer(): Buffer {
  return sparePackBuffers.pop() ?? Buffer.allocUnsafe(PACK_BUFFER_BYTES);
}

function givePackBuffer(buffer: Buffer): void {
  if (sparePackBuffers.length < PACK_BUFFERS) sparePackBuffers.push(buffer);
}

/** Writes all the pieces one after the other at `position` (a write may take fewer bytes: the rest is written again). @returns their length */
async function writeAllAt(fd: number, pieces: readonly Buffer[], position: number): Promise<number> {
  const length = pieces.reduce((sum, piece) => sum + piece.length, 0);
  const first = await new Promise<number>((resolve, reject) => writev(fd, pieces, position, (err, written) => (err ? reject(err) : resolve(written))));
  if (first === length) return length;
  const rest = Buffer.concat(pieces).subarray(first);
  for (let done = 0; done < rest.length; ) {
    done += await new Promise<number>((resolve, reject) => write(fd, rest, done, rest.length - done, position + first + done, (err, written) => (err ? reject(err) : resolve(written))));
  }
  return length;
}

async function namesIn(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}
