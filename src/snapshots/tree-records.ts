import type { FolderChanges } from "./change-tracker.js";
import { type DirEntry, type FileEntry, type SymlinkEntry, comparePaths, encodeEntry, joinEncoded, manifestPieces } from "./manifest.js";
import type { FolderPlan } from "./walk.js";

/**
 * One folder as a snapshot found it, kept so that the next snapshot can take it as it is when
 * nothing in it changed (change tracking). Immutable: a later snapshot shares it.
 */
export interface FolderRecord {
  /** Its own manifest entry, encoded; undefined for the workspace's root (the manifest has none). */
  readonly self: Buffer | undefined;
  /**
   * What it holds, in manifest order: an encoded file or link entry, or a subfolder by name —
   * once for its own entry (`block` false), once for everything below it (`block` true). A
   * subfolder `x` sorts as `x` and its contents as `x/`, which is where the manifest's order by
   * whole path puts them, so the manifest is these pieces in order, without a sort. Entries next
   * to each other are one piece (comma-separated), so a manifest is copied in few pieces.
   */
  readonly order: readonly (Buffer | { readonly name: string; readonly block: boolean })[];
  /** Its subfolders' names. */
  readonly folders: readonly string[];
  /** Its own regular files: how many, their bytes, their digests and paths. */
  readonly files: number;
  readonly bytes: number;
  readonly digests: readonly string[];
  readonly filePaths: readonly string[];
  /** What it holds that is no file, folder or link (left out of the manifest). */
  readonly skipped: readonly string[];
  /**
   * It holds a file with more than one link: a write through a name outside it raises no event
   * here, so it is listed at every snapshot whatever the tracker says.
   */
  readonly linked: boolean;
}

/** A workspace as its last snapshot found it, folder by folder. */
export interface TreeBase {
  /** The ignore rules' text it was walked with: other rules need a whole walk. */
  readonly rules: string;
  /** The blob store's generation then: after a collection removed blobs, none of it is trusted. */
  readonly generation: number;
  /** Every folder, by relative path ("" the root). */
  readonly folders: ReadonlyMap<string, FolderRecord>;
  /** Every file digest it refers to, a group per folder (pinned whole while a snapshot builds on it). */
  readonly digests: readonly (readonly string[])[];
  /** Its manifest's entries: how much it holds in memory. */
  readonly entries: number;
  /** When the whole workspace was last walked (ms since the epoch): this tree or one it was built on. */
  readonly walkedAt: number;
}

/** What a snapshot changed-tracked builds on: the last snapshot's tree, and what changed since. */
export interface Previous {
  readonly base: TreeBase;
  readonly changes: FolderChanges;
}

type Piece = FolderRecord["order"][number];

/** A folder being recorded by a walk. */
interface Building {
  self: Buffer | undefined;
  items: { key: string; piece: Piece }[];
  /** Taken whole from the base (entered, not listed): its items are in order already. */
  fromBase: FolderRecord | undefined;
  folders: string[];
  files: number;
  bytes: number;
  digests: string[];
  filePaths: string[];
  skipped: string[];
  linked: boolean;
}

/**
 * Records a snapshot's walk folder by folder (a TreeBase for the next snapshot), takes unchanged
 * folders from the previous one, and writes the manifest from the records: the bytes
 * encodeManifest would write for the same entries, each entry encoded once, when first met.
 */
export class TreeRecorder {
  private readonly building = new Map<string, Building>([["", emptyBuilding(undefined)]]);
  private readonly done = new Map<string, FolderRecord>();
  /** Folders the tracker (or a hard link) says to list, with the folders above them (entered). */
  private readonly listed = new Set<string>();
  private readonly hot = new Set<string>();

  constructor(
    /** The snapshot builds on this; undefined for a whole walk. */
    private readonly previous: Previous | undefined,
  ) {
    if (!previous) return;
    for (const [path, record] of previous.base.folders) if (record.linked) this.listed.add(path);
    for (const path of previous.changes.folders) if (previous.base.folders.has(path)) this.listed.add(path);
    for (const path of this.listed) {
      for (let up = parentOf(path); up !== undefined && !this.hot.has(up); up = parentOf(up)) this.hot.add(up);
    }
  }

  /** How the walk treats folder `path` (walk.ts KnownFolders.plan). */
  plan(path: string): FolderPlan {
    const record = this.previous?.base.folders.get(path);
    if (!record || this.listed.has(path) || this.isNew(path)) return undefined;
    return this.hot.has(path) ? { kind: "enter", folders: record.folders } : { kind: "reuse" };
  }

  /** A folder met by the walk (listed or entered). */
  folder(entry: DirEntry): void {
    this.building.set(entry.path, emptyBuilding(encodeEntry(entry)));
    this.addFolderTo(entry.path);
  }

  /** A regular file with its content's digest; `links` is its link count. */
  file(entry: FileEntry, links: bigint | number): void {
    const into = this.parentBuilding(entry.path);
    into.items.push({ key: nameOf(entry.path), piece: encodeEntry(entry) });
    into.files++;
    into.bytes += entry.size;
    into.digests.push(entry.digest);
    into.filePaths.push(entry.path);
    if (links > 1) into.linked = true;
  }

  link(entry: SymlinkEntry): void {
    this.parentBuilding(entry.path).items.push({ key: nameOf(entry.path), piece: encodeEntry(entry) });
  }

  /** Something that is no file, folder or link: left out, and said so. */
  other(path: string): void {
    this.parentBuilding(path).skipped.push(path);
  }

  /**
   * A folder the walk opened but did not list (plan "enter"): it holds what it held. @returns the
   * bytes of its own files (charged against the cap)
   */
  entered(path: string): number {
    const record = this.previous!.base.folders.get(path)!;
    const building = this.building.get(path)!;
    building.fromBase = record;
    return record.bytes;
  }

  /** A folder the walk neither opened nor listed (plan "reuse"): it and all below it are as they were. @returns their files' bytes */
  reused(path: string): number {
    if (path !== "") this.addFolderTo(path);
    else this.building.delete("");
    let bytes = 0;
    const take = (at: string): void => {
      const record = this.previous!.base.folders.get(at);
      if (!record) return;
      this.done.set(at, record);
      bytes += record.bytes;
      for (const name of record.folders) take(at === "" ? name : `${at}/${name}`);
    };
    take(path);
    return bytes;
  }

  /**
   * The records of this walk, the manifest they make, and what they count.
   * @param generation the blob store's generation before the walk
   * @param now when the walk began (kept as the tree's walkedAt when it was a whole walk)
   */
  finish(
    rules: string,
    generation: number,
    now: number,
  ): { readonly base: TreeBase; readonly manifest: readonly Buffer[]; readonly files: number; readonly bytes: number; readonly skipped: string[]; readonly foldersListed: number } {
    let foldersListed = 0;
    for (const building of this.building.values()) if (!building.fromBase) foldersListed++;
    for (const [path, building] of this.building) this.done.set(path, recordOf(building));
    const folders = new Map<string, FolderRecord>();
    const pieces: Buffer[] = [];
    const digests: (readonly string[])[] = [];
    const skipped: string[] = [];
    let files = 0;
    let bytes = 0;
    const emit = (path: string, record: FolderRecord): void => {
      folders.set(path, record);
      files += record.files;
      bytes += record.bytes;
      if (record.digests.length) digests.push(record.digests);
      for (const path of record.skipped) skipped.push(path);
      for (const piece of record.order) {
        if (Buffer.isBuffer(piece)) {
          pieces.push(piece);
          continue;
        }
        const childPath = path === "" ? piece.name : `${path}/${piece.name}`;
        const child = this.done.get(childPath);
        // A folder gone between the tracker's answer and the walk: gone from this snapshot too.
        if (!child) continue;
        if (piece.block) emit(childPath, child);
        else pieces.push(child.self!);
      }
    };
    const root = this.done.get("");
    if (root) emit("", root);
    const walkedAt = this.previous?.base.walkedAt ?? now;
    return { base: { rules, generation, folders, digests, entries: pieces.length, walkedAt }, manifest: manifestPieces(pieces), files, bytes, skipped, foldersListed };
  }

  /**
   * Files of the previous snapshot that are gone now, in folders this walk listed or lost: their
   * stat-cache entries can go.
   */
  *goneFiles(): Iterable<string> {
    const base = this.previous?.base.folders;
    if (!base) return;
    for (const [path, building] of this.building) {
      const before = base.get(path);
      if (!before || building.fromBase) continue;
      const now = new Set(building.filePaths);
      for (const file of before.filePaths) if (!now.has(file)) yield file;
      const still = new Set(building.folders);
      for (const name of before.folders) if (!still.has(name)) yield* filesBelow(base, path === "" ? name : `${path}/${name}`);
    }
  }

  private isNew(path: string): boolean {
    for (const tree of this.previous!.changes.trees) if (path === tree || path.startsWith(`${tree}/`)) return true;
    return false;
  }

  /** Adds folder `path` to its parent's items, unless the parent was taken whole from the base (it has them). */
  private addFolderTo(path: string): void {
    const parent = this.parentBuilding(path);
    if (parent.fromBase) return;
    const name = nameOf(path);
    parent.items.push({ key: name, piece: { name, block: false } }, { key: `${name}/`, piece: { name, block: true } });
    parent.folders.push(name);
  }

  private parentBuilding(path: string): Building {
    return this.building.get(parentOf(path) ?? "")!;
  }
}

function emptyBuilding(self: Buffer | undefined): Building {
  return { self, items: [], fromBase: undefined, folders: [], files: 0, bytes: 0, digests: [], filePaths: [], skipped: [], linked: false };
}

function recordOf(building: Building): FolderRecord {
  const from = building.fromBase;
  if (from) return { ...from, self: building.self ?? from.self };
  building.items.sort((a, b) => comparePaths(a.key, b.key));
  const order: Piece[] = [];
  let run: Buffer[] = [];
  const endRun = (): void => {
    if (run.length) order.push(run.length === 1 ? run[0]! : joinEncoded(run));
    run = [];
  };
  for (const { piece } of building.items) {
    if (Buffer.isBuffer(piece)) {
      run.push(piece);
      continue;
    }
    endRun();
    order.push(piece);
  }
  endRun();
  return {
    self: building.self,
    order,
    folders: building.folders,
    files: building.files,
    bytes: building.bytes,
    digests: building.digests,
    filePaths: building.filePaths,
    skipped: building.skipped,
    linked: building.linked,
  };
}

function* filesBelow(folders: ReadonlyMap<string, FolderRecord>, path: string): Iterable<string> {
  const record = folders.get(path);
  if (!record) return;
  yield* record.filePaths;
  for (const name of record.folders) yield* filesBelow(folders, `${path}/${name}`);
}

function parentOf(path: string): string | undefined {
  if (path === "") return undefined;
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

function nameOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
