import { join } from "node:path";
import { type Config, type Session, WORKSPACE_LEFT_OUT_BYTES, WORKSPACE_LEFT_OUT_PATHS, type WorkspaceState, dataPaths, workspaceName } from "../core/index.js";
import type { RestoreResult } from "./restore.js";
import { type CollectResult, WorkspaceSnapshots } from "./workspace-snapshots.js";
import { assertTractable } from "./walk.js";

/** Releases of single references between two collections. */
const RELEASES_PER_COLLECTION = 16;

/** The session fields that place its workspace and say who owns it. */
export type WorkspaceOwner = Pick<Session, "id" | "name"> & { readonly agent_id?: string | null; readonly runtime_metadata?: Session["runtime_metadata"] };

/** The reference key of a checkpoint's workspace snapshot. */
export function checkpointRefKey(checkpointId: string): string {
  return `checkpoint-${checkpointId}`;
}

/**
 * The engine's side of workspace snapshots: a session's workspace (`workspaces/<name>`) taken
 * into a checkpoint, put back by a restore, copied for a fork, with the config's ignore rules
 * and cap; references dropped and blobs collected when sessions are deleted.
 */
export class SessionFiles {
  readonly snapshots: WorkspaceSnapshots;
  private collecting: Promise<CollectResult | undefined> | undefined;
  private again = false;
  private closed = false;
  private releases = 0;
  private recovering: Promise<void> | undefined;

  constructor(
    private readonly config: Pick<
      Config,
      "home" | "snapshotFsync" | "snapshotIgnore" | "maxSnapshotBytes" | "snapshotChangeTracking" | "snapshotTrackedEntries" | "snapshotTrackerTimeoutMs" | "snapshotFullWalkMs" | "pythonPath"
    >,
    snapshots?: WorkspaceSnapshots,
  ) {
    // Refused at start rather than at every checkpoint with files.
    assertTractable(config.snapshotIgnore, "snapshotIgnore");
    this.snapshots = snapshots ?? WorkspaceSnapshots.forConfig(config);
  }

  /** `$SESSIOND_HOME/workspaces/<name>` of a session. */
  dirOf(session: WorkspaceOwner): string {
    return join(dataPaths(this.config).workspaces, workspaceName(session));
  }

  /**
   * Snapshots a session's workspace and holds it under `key` for the session.
   * @throws snapshot_too_large; file_changed
   */
  async capture(session: WorkspaceOwner, key: string): Promise<WorkspaceState> {
    const snap = await this.snapshots.snapshotWorkspace(this.dirOf(session), {
      ignore: this.config.snapshotIgnore,
      maxBytes: this.config.maxSnapshotBytes,
      hold: { sessionId: session.id, key },
    });
    const state = { digest: snap.digest, files: snap.files, bytes: snap.bytes };
    if (snap.skipped.length === 0) return state;
    return { ...state, left_out: { count: snap.skipped.length, paths: firstPaths(snap.skipped) } };
  }

  /** Puts a session's workspace back as snapshot `digest` holds it. @throws snapshot_damaged */
  restore(session: WorkspaceOwner, digest: string): Promise<RestoreResult> {
    const owner = sandboxOwner(session);
    return this.snapshots.restoreWorkspace(this.dirOf(session), digest, { ignore: this.config.snapshotIgnore, ...(owner ? { owner } : {}) });
  }

  /** Gives a (new) session its own copy of snapshot `digest`. @throws snapshot_damaged */
  copy(session: WorkspaceOwner, digest: string): Promise<RestoreResult> {
    const owner = sandboxOwner(session);
    return this.snapshots.copyWorkspace(digest, this.dirOf(session), owner ? { owner } : {});
  }

  /**
   * Drops one reference a session holds (an undo snapshot let go, say). What only it held is
   * collected with a later collection: one runs every RELEASES_PER_COLLECTION releases.
   */
  async release(sessionId: string, key?: string): Promise<void> {
    await this.snapshots.release(sessionId, key);
    if (++this.releases >= RELEASES_PER_COLLECTION) {
      this.releases = 0;
      void this.scheduleCollect();
    }
  }

  /**
   * Finishes, in the background, the restores a crash cut short in any workspace (each is then
   * its old tree or its new one, never a mix). Called once at start.
   */
  recoverInterrupted(): void {
    this.recovering = this.snapshots.finishInterruptedRestores(dataPaths(this.config).workspaces).then(
      () => undefined,
      () => undefined,
    );
  }

  /** A session was deleted: its references go, and a collection is scheduled. */
  async forget(sessionId: string): Promise<void> {
    await this.snapshots.release(sessionId);
    this.scheduleCollect();
  }

  /**
   * Runs a collection soon; calls while one runs make one more run after it (never two at once).
   * @returns the collection that will see every release made so far
   */
  scheduleCollect(): Promise<CollectResult | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    if (this.collecting) {
      this.again = true;
      return this.collecting;
    }
    const run = async (): Promise<CollectResult | undefined> => {
      let result: CollectResult | undefined;
      do {
        this.again = false;
        result = await this.snapshots.collect().catch(() => undefined);
      } while (this.again && !this.closed);
      return result;
    };
    this.collecting = run().finally(() => {
      this.collecting = undefined;
    });
    return this.collecting;
  }

  /** Waits for a collection in progress; no new one starts. */
  async close(): Promise<void> {
    this.closed = true;
    await this.recovering;
    await this.collecting;
    await this.snapshots.idle();
    this.snapshots.close();
  }
}

/** The sandbox user a live session runs as, when it records one: what a restore gives its files to. */
function sandboxOwner(session: WorkspaceOwner): { uid: number; gid: number } | undefined {
  const meta = session.runtime_metadata ?? {};
  const isId = (value: unknown): value is number => typeof value === "number" && Number.isInteger(value) && value >= 0 && value < 0xffff_ffff;
  return isId(meta.sandbox_uid) && isId(meta.sandbox_gid) ? { uid: meta.sandbox_uid, gid: meta.sandbox_gid } : undefined;
}

/**
 * The first of `paths`, WORKSPACE_LEFT_OUT_PATHS at most and WORKSPACE_LEFT_OUT_BYTES of text all
 * together: a path 256 folders deep can be tens of KB, and the list goes into the checkpoint event.
 * Counted as JSON writes them (a control character in a name takes six bytes there).
 */
function firstPaths(paths: readonly string[]): string[] {
  const first: string[] = [];
  let bytes = 0;
  for (const path of paths.slice(0, WORKSPACE_LEFT_OUT_PATHS)) {
    bytes += Buffer.byteLength(JSON.stringify(path));
    if (bytes > WORKSPACE_LEFT_OUT_BYTES) break;
    first.push(path);
  }
  return first;
}
