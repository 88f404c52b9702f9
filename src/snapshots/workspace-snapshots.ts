import { lstat, mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { LRUCache } from "lru-cache";
import { type Config, dataPaths } from "../core/index.js";
import { BlobStore } from "./blob-store.js";
import { ChangeTracker, type ChangeTrackerOptions } from "./change-tracker.js";
import { type Manifest, decodeManifest, encodeManifest } from "./manifest.js";
import { SnapshotRefs } from "./refs.js";
import {
  type RestoreOptions,
  type RestoreResult,
  buildTree,
  finishInterruptedRestore,
  finishInterruptedRestores,
  loadManifest,
  openStage,
  restoreTree,
} from "./restore.js";
import { type SnapshotOptions, type SnapshotResult, type StatCache, takeSnapshot } from "./snapshot.js";
import type { TreeBase } from "./tree-records.js";
import { removeTree } from "./tree-paths.js";
import { readIgnoreRules } from "./walk.js";

/** Where a snapshot store keeps its files. */
export interface WorkspaceSnapshotsOptions {
  /** The blob store's folder (`$SESSIOND_HOME/blobs`). */
  readonly blobsDir: string;
  /** References and journals (`$SESSIOND_HOME/snapshots`). */
  readonly snapshotsDir: string;
  /** fsync each blob and reference before it is named. @default true */
  readonly fsync?: boolean;
  /**
   * Learn which folders changed between snapshots of a workspace from the kernel, and list only
   * those (docs/checkpoints.md#change-tracking); `maxEntries` bounds the trees kept for it, and a
   * workspace is walked whole at least every `fullWalkMs`.
   * @default off
   */
  readonly changeTracking?: ChangeTrackerOptions & { readonly maxEntries: number; readonly fullWalkMs: number };
}

/** A reference to hold a snapshot under as soon as it is taken (before collection may see it). */
export interface HoldAs {
  readonly sessionId: string;
  /** 1–128 letters, digits, `.`, `_`, `-`; not starting with `.`. */
  readonly key: string;
}

/** What a collection did. */
export interface CollectResult {
  /** Manifests marked live (those referenced that could be read). */
  readonly manifests: number;
  /** Referenced manifests that are missing or unreadable (a damaged store): reported, never a reason to remove more (an unreadable one is kept, with every digest it names). */
  readonly missingManifests: number;
  readonly kept: number;
  readonly removed: number;
  readonly removedBytes: number;
}

/**
 * Workspace snapshots: content-addressed, deduplicated across snapshots and sessions, restored
 * in place, copied for forks, held by references, collected when nothing refers to them.
 * docs/checkpoints.md describes the layout and the guarantees.
 *
 * Operations on one workspace folder run one at a time (a snapshot never sees a restore's half
 * swap); different folders proceed in parallel. Collection runs beside them safely.
 *
 * @example
 * const snapshots = WorkspaceSnapshots.forConfig(config);
 * const snap = await snapshots.snapshotWorkspace(dir, { maxBytes: config.maxSnapshotBytes, hold: { sessionId, key: "undo-1" } });
 * // … the session changes files …
 * await snapshots.restoreWorkspace(dir, snap.digest);
 */
export class WorkspaceSnapshots {
  readonly blobs: BlobStore;
  readonly refs: SnapshotRefs;
  private readonly cache: StatCache = new Map();
  /** The tail of each folder's queue of operations. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Deletions of replaced trees running in the background. */
  private readonly removals = new Set<Promise<unknown>>();
  private readonly tracker: ChangeTracker | undefined;
  /** Each tracked folder's tree as its last snapshot found it: the next one builds on it. */
  private readonly trees: LRUCache<string, TreeBase> | undefined;
  private readonly fullWalkMs: number;

  constructor(options: WorkspaceSnapshotsOptions) {
    const fsync = options.fsync ?? true;
    this.blobs = new BlobStore(options.blobsDir, { fsync });
    this.refs = new SnapshotRefs(options.snapshotsDir, fsync);
    const tracking = options.changeTracking;
    this.fullWalkMs = tracking?.fullWalkMs ?? 0;
    if (tracking) {
      const tracker = (this.tracker = new ChangeTracker(tracking));
      this.trees = new LRUCache<string, TreeBase>({
        maxSize: tracking.maxEntries,
        sizeCalculation: (tree) => Math.max(1, tree.entries),
        // A workspace let go for room is no longer watched either.
        dispose: (_tree, dir, reason) => {
          if (reason === "evict") tracker.untrack(dir);
        },
      });
    }
  }

  /** Resolves once the trees restores replaced are deleted (those so far). */
  async idle(): Promise<void> {
    while (this.removals.size) await Promise.all(this.removals);
  }

  /** The store of a data dir, as config places it. */
  static forConfig(
    config: Pick<Config, "home" | "snapshotFsync" | "snapshotChangeTracking" | "snapshotTrackedEntries" | "snapshotTrackerTimeoutMs" | "snapshotFullWalkMs" | "pythonPath">,
    onTrackingUnavailable?: (reason: string) => void,
  ): WorkspaceSnapshots {
    const paths = dataPaths(config);
    return new WorkspaceSnapshots({
      blobsDir: paths.blobs,
      snapshotsDir: paths.snapshots,
      fsync: config.snapshotFsync,
      ...(config.snapshotChangeTracking
        ? {
            changeTracking: {
              python: config.pythonPath,
              timeoutMs: config.snapshotTrackerTimeoutMs,
              maxEntries: config.snapshotTrackedEntries,
              fullWalkMs: config.snapshotFullWalkMs,
              ...(onTrackingUnavailable ? { onUnavailable: onTrackingUnavailable } : {}),
            },
          }
        : {}),
    });
  }

  /** Stops following changes (the helper process ends); snapshots after it walk whole workspaces. */
  close(): void {
    this.tracker?.close();
    this.trees?.clear();
  }

  /**
   * Snapshots the folder `dir` (a missing folder is an empty tree). With `hold`, the snapshot is
   * referenced under that key before it is answered — the only way to be sure a collection
   * running meanwhile keeps it; without, it is collectable as soon as it resolves.
   * @throws snapshot_too_large past `maxBytes` (nothing written); file_changed
   */
  snapshotWorkspace(dir: string, options: SnapshotOptions & { readonly hold?: HoldAs } = {}): Promise<SnapshotResult> {
    return this.queued(dir, async () => {
      const lease = this.blobs.lease();
      try {
        await finishInterruptedRestore(dir).catch(ignoreMissing);
        const result = (await isDir(dir)) ? await this.walkSnapshot(dir, options, lease) : await this.emptySnapshot(lease);
        if (options.hold) await this.refs.hold(options.hold.sessionId, options.hold.key, result.digest);
        return result;
      } finally {
        lease.release();
      }
    });
  }

  /**
   * A snapshot of an existing folder: built on its last one when change tracking can say what
   * changed since, walked whole otherwise. Its tree is kept for the next one only when it
   * succeeds (a failed one took the tracker's changes with it).
   */
  private async walkSnapshot(dir: string, options: SnapshotOptions, lease: ReturnType<BlobStore["lease"]>): Promise<SnapshotResult> {
    const ignored = await readIgnoreRules(dir, options.ignore ?? []);
    const changes = await this.tracker?.changes(dir, ignored.leftOutNames);
    let base = changes && this.trees?.get(dir);
    this.trees?.delete(dir);
    // Changes that raise no event are bounded by a whole walk now and then.
    if (base && Date.now() - base.walkedAt >= this.fullWalkMs) base = undefined;
    const taken = await takeSnapshot(this.blobs, this.cache, dir, options, lease, ignored, base && changes ? { base, changes } : undefined);
    if (this.trees && this.tracker) {
      if (taken.tree.entries <= this.trees.maxSize) this.trees.set(dir, taken.tree);
      else this.tracker.untrack(dir);
    }
    return taken.result;
  }

  /**
   * Puts the folder `dir` back exactly as snapshot `digest` holds it (files added since removed,
   * modes, times and links as recorded), in place: the folder itself is kept. Paths `ignore`
   * matches (and the workspace's `.sessiondignore`) are left as they are. A missing folder is
   * created. Every blob is checked present before anything changes.
   * @throws snapshot_damaged (nothing changed)
   */
  restoreWorkspace(dir: string, digest: string, options: RestoreOptions = {}): Promise<RestoreResult> {
    return this.queued(dir, async () => {
      const lease = this.blobs.lease();
      // What the restore changes is for a whole walk to find.
      this.trees?.delete(dir);
      try {
        const manifest = await loadManifest(this.blobs, digest, lease);
        if (!(await isDir(dir))) return await this.copyInto(manifest, digest, dir, options);
        return await restoreTree(this.blobs, dir, manifest, digest, options, (stage) => this.removeLater(stage));
      } finally {
        lease.release();
      }
    });
  }

  /**
   * A new folder `newDir` holding snapshot `digest` (a fork's workspace): its own copy of every
   * file, never a hard link into the store. Built beside it and renamed into place, so it is
   * there whole or not at all; an existing folder is restored in place instead.
   * @throws snapshot_damaged (nothing made)
   */
  copyWorkspace(digest: string, newDir: string, options: Pick<RestoreOptions, "owner"> = {}): Promise<RestoreResult> {
    return this.restoreWorkspace(newDir, digest, options);
  }

  /** A snapshot's manifest, checked. @throws snapshot_damaged */
  async readManifest(digest: string): Promise<Manifest> {
    return decodeManifest(digest, await this.blobs.read(digest));
  }

  /** Holds a snapshot for a session under `key` (see HoldAs); pin-free: prefer snapshotWorkspace's `hold`. */
  hold(sessionId: string, key: string, digest: string): Promise<void> {
    return this.refs.hold(sessionId, key, digest);
  }

  /** Drops one of a session's references, or all of them. What only they held is collected by the next collect(). */
  release(sessionId: string, key?: string): Promise<void> {
    return this.refs.release(sessionId, key);
  }

  /**
   * Mark and sweep: keeps the blobs of the manifests `referenced` names (read once the
   * collection has begun, so that a snapshot pinned while they are read is kept), and the
   * manifests; removes the rest.
   */
  async collectGarbage(referenced: Iterable<string> | (() => Promise<Iterable<string>>)): Promise<CollectResult> {
    let manifests = 0;
    let missingManifests = 0;
    const swept = await this.blobs.sweep(async () => {
      const live = new Set<string>();
      for (const digest of typeof referenced === "function" ? await referenced() : referenced) {
        if (live.has(digest)) continue;
        let manifest: Manifest;
        try {
          manifest = await this.readManifest(digest);
        } catch {
          missingManifests++;
          // Referenced but unreadable as a manifest: it is kept, with every blob it seems to
          // name — a collection never removes what a reference may need.
          const kept = await this.blobs.read(digest).catch(() => undefined);
          if (kept) {
            live.add(digest);
            for (const named of kept.toString("utf8").match(DIGESTS_IN_TEXT) ?? []) live.add(named);
          }
          continue;
        }
        manifests++;
        live.add(digest);
        for (const entry of manifest.entries) if (entry.type === "file") live.add(entry.digest);
      }
      return live;
    });
    return { manifests, missingManifests, ...swept };
  }

  /** collectGarbage with every reference any session holds, read once the collection has begun. */
  collect(): Promise<CollectResult> {
    return this.collectGarbage(() => this.refs.all());
  }

  /** Completes (or drops) a restore of `dir` that a crash cut short. @returns whether there was one */
  finishInterruptedRestore(dir: string): Promise<boolean> {
    return this.queued(dir, async () => (await finishInterruptedRestore(dir)) > 0);
  }

  /**
   * Completes (or drops) the restores a crash cut short in every workspace folder of `parent`
   * (a server's `workspaces/`), one workspace at a time as its queue allows.
   */
  async finishInterruptedRestores(parent: string): Promise<number> {
    return finishInterruptedRestores(parent);
  }

  /** Deletes a staging folder (the tree a restore replaced) after the answer, in the background. */
  private removeLater(stage: string): void {
    const removal = removeTree(stage)
      .catch(() => undefined)
      .finally(() => this.removals.delete(removal));
    this.removals.add(removal);
  }

  /** Builds `dir` (which does not exist) in the staging folder beside it and renames it into place. */
  private async copyInto(manifest: Manifest, digest: string, dir: string, options: RestoreOptions): Promise<RestoreResult> {
    const stage = await openStage(dir);
    try {
      const built = await buildTree(this.blobs, manifest, join(stage.path, "new"), options.owner);
      await rename(join(stage.path, "new"), dir);
      return { digest, files: built.files, bytes: built.bytes };
    } finally {
      // A staging folder left (a removal refused) goes with the next finishInterruptedRestores.
      await removeTree(stage.path).catch(() => undefined);
      stage.done();
    }
  }

  private async emptySnapshot(lease: ReturnType<BlobStore["lease"]>): Promise<SnapshotResult> {
    const pack = await this.blobs.openPack(lease);
    const put = pack.add(encodeManifest([]));
    await pack.finish();
    return { digest: put.digest, files: 0, bytes: 0, newBytes: 0, skipped: [], foldersListed: 0 };
  }

  private queued<T>(dir: string, run: () => Promise<T>): Promise<T> {
    const before = this.queues.get(dir) ?? Promise.resolve();
    const result = before.then(run, run);
    const tail = result.catch(() => undefined);
    this.queues.set(dir, tail);
    void tail.then(() => {
      if (this.queues.get(dir) === tail) this.queues.delete(dir);
    });
    return result;
  }
}

/** Every `sha256:<64 hex>` in a text (a damaged manifest's digests, kept by a collection). */
const DIGESTS_IN_TEXT = /sha256:[0-9a-f]{64}/g;

async function isDir(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

function ignoreMissing(err: unknown): void {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
}
