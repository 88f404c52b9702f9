import type { BigIntStats } from "node:fs";
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import ignore, { type Ignore } from "ignore";
import { SessiondError } from "../core/index.js";
import { TimeSlice } from "./time-slice.js";

/** The workspace's own ignore file, in gitignore syntax (docs/checkpoints.md#ignore-rules). */
export const IGNORE_FILE = ".sessiondignore";
/** The largest `.sessiondignore` read; a bigger one is refused. */
const MAX_IGNORE_FILE_BYTES = 64 * 1024;
/** Folders below the workspace a walk descends at most (each holds a descriptor while it is walked). */
export const MAX_DEPTH = 256;

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;
/** O_NONBLOCK: opening a FIFO someone planted must not hang. */
export const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK;
export const FILE_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;

/**
 * One entry met by a walk. `at` names it through its folder's descriptor
 * (`/proc/self/fd/<fd>/<name>`), valid while `visit` runs: open, lstat or readlink it by `at`,
 * never by `path`, so that a folder swapped for a link meanwhile cannot lead outside the tree.
 */
export type WalkEntry = FolderEntry | FileEntry | OtherEntry;

interface EntryName {
  /** Relative to the walked folder, `/`-separated. */
  readonly path: string;
  readonly at: string;
}

/** A folder: `stat` is what was opened (fstat of its descriptor). */
export interface FolderEntry extends EntryName {
  readonly kind: "dir";
  readonly stat: BigIntStats;
}

/**
 * A regular file as its folder listed it. Not stat'ed by the walk: a snapshot opens most files
 * anyway (their fstat tells all), and stats only those it knows from before — by `named`, the path
 * through the folders as named, which costs half a lookup through `at`. What a stat by name says
 * may only be compared with what was read through `at` before, never trusted to read by.
 * `stat` is set when the file system gave no type with the listing and the walk had to look.
 */
export interface FileEntry extends EntryName {
  readonly kind: "file";
  readonly named: string;
  readonly stat?: BigIntStats;
}

/** A symbolic link (read it by `at`), or what is no file, folder or link (a FIFO, a socket, a device). */
export interface OtherEntry extends EntryName {
  readonly kind: "symlink" | "other";
  readonly stat: BigIntStats;
}

/**
 * The rules a walk leaves paths out by: `patterns` (config snapshotIgnore) and the workspace's
 * `.sessiondignore` when it is a regular file (a link there is not followed); undefined when
 * there are none (then nothing is asked of them).
 */
export async function ignoreRules(dir: string, patterns: readonly string[]): Promise<PathRules | undefined> {
  return (await readIgnoreRules(dir, patterns)).rules;
}

/** The rules a snapshot walks by, as readIgnoreRules reads them. */
export interface IgnoreRules {
  readonly rules: PathRules | undefined;
  /** The text they were made from (the same text makes the same rules). */
  readonly source: string;
  /** Folder names the rules leave out wherever such a folder is (see namesLeftOutEverywhere). */
  readonly leftOutNames: readonly string[];
}

/** ignoreRules, with the text they were made from and the folder names they leave out everywhere. */
export async function readIgnoreRules(dir: string, patterns: readonly string[]): Promise<IgnoreRules> {
  assertTractable(patterns, "snapshotIgnore");
  const given = JSON.stringify(patterns);
  const withoutFile = () => ({
    rules: patterns.length === 0 ? undefined : new BudgetedRules(ignore().add([...patterns]), "snapshotIgnore"),
    source: given,
    leftOutNames: namesLeftOutEverywhere(patterns),
  });
  let handle;
  try {
    handle = await open(join(dir, IGNORE_FILE), FILE_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ELOOP" || code === "ENOTDIR") return withoutFile();
    throw err;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return withoutFile();
    if (stat.size > MAX_IGNORE_FILE_BYTES) {
      throw new SessiondError("validation", { field: IGNORE_FILE, reason: `is ${stat.size} bytes, over ${MAX_IGNORE_FILE_BYTES}` }, { field: IGNORE_FILE });
    }
    const text = (await handle.readFile()).toString("utf8");
    const lines = text.split(/\r?\n/);
    assertTractable(lines, IGNORE_FILE);
    const rules = new BudgetedRules(ignore().add([...patterns]).add(text), IGNORE_FILE);
    return { rules, source: `${given}\n${text}`, leftOutNames: namesLeftOutEverywhere([...patterns, ...lines]) };
  } finally {
    await handle.close();
  }
}

/** What a walk asks of ignore rules. */
export interface PathRules {
  /** Whether the rules leave out `path` (relative, `/`-separated; a folder's ends with `/`). */
  ignores(path: string): boolean;
}

/**
 * The `ignore` package's rules, asked within a budget of time. The package tries every pattern's
 * regular expression on every path, and the limits of assertTractable still let 1,000 wildcard
 * patterns cost some 80 ms for each long name made to match them slowly (measured on this
 * project's 2-core machines): a workspace of such names would hold a snapshot, and the server's
 * CPU, for minutes. So once the rules have cost more than IGNORE_BUDGET_MS plus
 * IGNORE_BUDGET_PER_PATH_MS for each path asked, the walk is refused, naming where the rules came
 * from. Real rules cost microseconds a path, far inside it.
 */
export class BudgetedRules implements PathRules {
  private spentMs = 0;
  private asked = 0;

  /** @param field where the rules came from: `.sessiondignore` or `snapshotIgnore` */
  constructor(
    private readonly rules: Ignore,
    private readonly field: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** @throws validation naming the rules' field once they have cost more than their budget */
  ignores(path: string): boolean {
    const started = this.now();
    const ignored = this.rules.ignores(path);
    this.spentMs += this.now() - started;
    this.asked++;
    if (this.spentMs > IGNORE_BUDGET_MS + this.asked * IGNORE_BUDGET_PER_PATH_MS) {
      const reason = `cost ${Math.round(this.spentMs)} ms to match ${this.asked} paths, over the budget of ${IGNORE_BUDGET_MS} ms and ${IGNORE_BUDGET_PER_PATH_MS * 1000} µs a path: use fewer patterns, or fewer wildcards in them (docs/checkpoints.md#ignore-rules)`;
      throw new SessiondError("validation", { field: this.field, reason }, { field: this.field });
    }
    return ignored;
  }
}

/** The time ignore rules may cost a walk: this much, plus IGNORE_BUDGET_PER_PATH_MS a path asked (BudgetedRules). */
const IGNORE_BUDGET_MS = 1000;
const IGNORE_BUDGET_PER_PATH_MS = 0.2;

/**
 * Refuses rules past the limits above (MAX_PATTERN_CHARS, MAX_PATTERN_WILDCARDS, MAX_PATTERNS),
 * and a pattern with more than one `**` part before its last part (as in a, **, b, **, c
 * joined by slashes): the `ignore` package matches each such `**` with a regular expression that
 * backtracks, and two or more take time polynomial in a path's depth — seconds per path 256
 * folders deep, on the server's event loop. One, or a last one (`build` then `**`), costs
 * microseconds.
 * @throws validation naming `field`
 */
export function assertTractable(patterns: readonly string[], field: string): void {
  const refuse = (reason: string) => new SessiondError("validation", { field, reason: `${reason} (docs/checkpoints.md#ignore-rules)` }, { field });
  let count = 0;
  for (const line of patterns) {
    if (line.length > MAX_PATTERN_CHARS) throw refuse(`has a line of ${line.length} characters, over ${MAX_PATTERN_CHARS}`);
    if (line.startsWith("#") || patternOf(line) === "") continue;
    if (++count > MAX_PATTERNS) throw refuse(`has more than ${MAX_PATTERNS} patterns`);
    const wildcards = line.length - line.replace(/[*?[]/g, "").length;
    if (wildcards > MAX_PATTERN_WILDCARDS) throw refuse(`has the pattern ${JSON.stringify(line.slice(0, 200))}, with ${wildcards} wildcards (*, ?, [), over ${MAX_PATTERN_WILDCARDS}`);
    const parts = patternOf(line).replace(/\/$/, "").split("/");
    const inner = parts.slice(0, -1).filter((part) => part === "**").length;
    if (inner > 1) throw refuse(`has the pattern ${JSON.stringify(line.slice(0, 200))}, with more than one \`**\` before its last part`);
  }
}

/** A gitignore line's pattern: trailing spaces are not part of it. (A loop: `/ +$/` is quadratic on a run of spaces with text after it.) */
function patternOf(line: string): string {
  let end = line.length;
  while (end > 0 && line.charCodeAt(end - 1) === 0x20) end--;
  return line.slice(0, end);
}

/**
 * What ignore rules may hold. The `ignore` package turns each pattern into a regular expression
 * and tries every one on every path (and its parents): a pattern of a few hundred thousand
 * characters is too large for V8 (a 500), and a megabyte of patterns with dozens of wildcards each
 * took seconds per path, on the server's event loop. Real ignore files (a few hundred patterns of
 * a few wildcards each) stay far inside these.
 */
const MAX_PATTERN_CHARS = 1024;
const MAX_PATTERN_WILDCARDS = 16;
const MAX_PATTERNS = 1000;

/** A pattern that is a plain name (`node_modules`, `.venv/`): gitignore matches it at any depth. */
const PLAIN_NAME = /^[A-Za-z0-9._-]+\/?$/;

/**
 * The folder names whose every folder the rules leave out, wherever it is: those of patterns that
 * are a plain name, when no pattern re-includes anything (`!…` could bring one such folder back).
 * A walk never enters such a folder, so a change tracker need not watch below it (an
 * `npm install` makes tens of thousands of folders in node_modules). Other patterns are left to
 * the walk; what they leave out is still watched.
 */
export function namesLeftOutEverywhere(patterns: readonly string[]): string[] {
  const names = new Set<string>();
  for (const line of patterns) {
    if (line.startsWith("!")) return [];
    const pattern = patternOf(line);
    if (!PLAIN_NAME.test(pattern)) continue;
    const name = pattern.endsWith("/") ? pattern.slice(0, -1) : pattern;
    if (name !== "." && name !== "..") names.add(name);
  }
  return [...names].sort();
}

/**
 * How a walk treats a folder a caller knows from an earlier walk (a change tracker's plan, see
 * change-tracker.ts): "reuse" — neither opened nor listed, the caller has all of it (KnownFolders
 * sees it `reused`); "enter" — opened but not listed, the caller has its entries, and only the
 * folders named are gone into (visit sees it as a `dir`, then KnownFolders sees it `entered`);
 * undefined — listed, as without a plan.
 */
export type FolderPlan = { readonly kind: "reuse" } | { readonly kind: "enter"; readonly folders: readonly string[] } | undefined;

/** A folder the walk did not list, as its plan said: the caller supplies what it holds. */
export interface KnownEntry {
  readonly kind: "reused" | "entered";
  readonly path: string;
}

/** The folders a caller knows from an earlier walk: how to treat each, and what to tell it of those not listed. */
export interface KnownFolders {
  plan(path: string): FolderPlan;
  visit(entry: KnownEntry): Promise<void> | void;
}

/**
 * Walks a tree the code of a live session may be changing, as it changes it, without ever
 * following a symbolic link: every folder is opened with O_NOFOLLOW relative to the descriptor
 * of the folder above it (`/proc/self/fd/<fd>/<name>`, as src/server/workspaces/workspace-fs.ts
 * does for artifacts) and listed through its own descriptor — so a folder swapped for a link to
 * `/etc` between two calls leads nowhere but where the folder was. The listing's types spare a
 * stat per entry; an entry whose type changed since it was listed is looked at again. Ignored
 * paths are left out (an ignored folder with all below it). `visit` sees folders before what they
 * hold (and `descend` may keep the walk out of one); a folder's descriptor stays open until its
 * entries are visited. Synchronous calls in time slices. A name that is not UTF-8 cannot be
 * named in a manifest: `unnamed` is told of it (with U+FFFD where its bytes were), and it is left
 * out, with all below it. With `known`, folders the caller knows
 * unchanged are not listed (FolderPlan).
 * @throws validation past MAX_DEPTH (unless `skipTooDeep`)
 */
export async function walkTree(
  dir: string,
  rules: PathRules | undefined,
  visit: (entry: WalkEntry) => Promise<void> | void,
  options: {
    readonly descend?: (entry: FolderEntry) => boolean;
    readonly known?: KnownFolders;
    readonly unnamed?: (path: string) => void;
    /** Leave out folders past MAX_DEPTH (with all below them) instead of refusing the walk. */
    readonly skipTooDeep?: boolean;
  } = {},
): Promise<void> {
  const root = openSync(dir, DIR_FLAGS);
  const slice = new TimeSlice();
  /** Lists (or, as `plan` says, enters) the folder open as `fd`. */
  const walk = async (fd: number, rel: string, depth: number, plan: FolderPlan): Promise<void> => {
    const base = `/proc/self/fd/${fd}`;
    if (plan) {
      await options.known!.visit({ kind: plan.kind === "reuse" ? "reused" : "entered", path: rel });
      if (plan.kind === "reuse") return;
      for (const name of plan.folders) {
        const path = rel === "" ? name : `${rel}/${name}`;
        const at = `${base}/${name}`;
        if (!(await folder(path, at, depth))) await looked(path, at, depth);
        await slice.check();
      }
      return;
    }
    let invalid: Map<string, boolean> | undefined;
    let validTaken: Set<string> | undefined;
    for (const listed of readdirSync(base, { withFileTypes: true })) {
      const { name } = listed;
      const path = rel === "" ? name : `${rel}/${name}`;
      const validToo = name.includes(REPLACEMENT) ? (invalid ??= notUtf8Names(base)).get(name) : undefined;
      if (validToo !== undefined) {
        // Read as text, a name that is not UTF-8 is another one: it cannot be opened by it. When
        // a valid name reads the same, the text opens that one, taken once.
        validTaken ??= new Set();
        if (!validToo || validTaken.has(name)) {
          options.unnamed?.(path);
          continue;
        }
        validTaken.add(name);
      }
      const at = `${base}/${name}`;
      if (listed.isFile()) {
        if (!rules?.ignores(path)) await visit({ kind: "file", path, at, named: namedPath(dir, path, at) });
      } else if (!listed.isDirectory() || !(await folder(path, at, depth))) {
        // A link, something else, a file system that gives no types, or a folder that is no
        // longer one: looked at (once).
        await looked(path, at, depth);
      }
      await slice.check();
    }
  };
  const looked = async (path: string, at: string, depth: number): Promise<void> => {
    const stat = gone(() => lstatSync(at, { bigint: true }));
    if (!stat) return;
    if (stat.isDirectory()) await folder(path, at, depth);
    else if (rules?.ignores(path)) return;
    else if (stat.isFile()) await visit({ kind: "file", path, at, named: namedPath(dir, path, at), stat });
    else await visit({ kind: stat.isSymbolicLink() ? "symlink" : "other", path, at, stat });
  };
  /** Visits a folder and what it holds. @returns false when it is no folder now (nothing visited) */
  const folder = async (path: string, at: string, depth: number): Promise<boolean> => {
    if (rules?.ignores(`${path}/`)) return true;
    const plan = options.known?.plan(path);
    if (plan?.kind === "reuse") {
      await options.known!.visit({ kind: "reused", path });
      return true;
    }
    if (depth >= MAX_DEPTH && options.skipTooDeep) return true;
    if (depth >= MAX_DEPTH) throw new SessiondError("validation", { field: "workspace", reason: `${path} is more than ${MAX_DEPTH} folders deep` }, { field: "workspace" });
    let child: number;
    try {
      child = openSync(at, DIR_FLAGS);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return true;
      // No longer a folder since it was listed (a link now is never followed).
      if (code === "ENOTDIR" || code === "ELOOP") return false;
      throw err;
    }
    try {
      // What was opened is what is recorded (a swap since the listing shows in its own stat).
      const entry: FolderEntry = { kind: "dir", path, at, stat: fstatSync(child, { bigint: true }) };
      await visit(entry);
      if (options.descend?.(entry) ?? true) await walk(child, path, depth + 1, plan);
    } finally {
      closeSync(child);
    }
    return true;
  };
  try {
    await walk(root, "", 0, options.known?.plan(""));
  } finally {
    closeSync(root);
  }
}

/**
 * The longest path the kernel takes in one system call: PATH_MAX (4096 bytes, its NUL included).
 * A workspace's files can be deeper than that (a walk goes 256 folders down).
 */
const PATH_MAX_BYTES = 4095;

/** Whether the kernel takes `path` whole in one system call. */
export function fitsPathMax(path: string): boolean {
  return path.length * 3 <= PATH_MAX_BYTES || Buffer.byteLength(path) <= PATH_MAX_BYTES;
}

/** A file's path through its folders' names (FileEntry.named), or `at` where that one is too long for a system call. */
function namedPath(dir: string, path: string, at: string): string {
  const named = `${dir}/${path}`;
  return fitsPathMax(named) ? named : at;
}

/** What Node reads a name's bytes that are not UTF-8 as. */
const REPLACEMENT = "\uFFFD";

/**
 * The names in a folder that are not UTF-8, as Node reads them (with U+FFFD where bytes were),
 * each with whether a valid name of the folder reads the same.
 */
function notUtf8Names(folder: string): Map<string, boolean> {
  const invalid = new Map<string, boolean>();
  const valid = new Set<string>();
  for (const bytes of readdirSync(folder, { encoding: "buffer" })) {
    const text = bytes.toString("utf8");
    if (Buffer.from(text).equals(bytes)) valid.add(text);
    else invalid.set(text, false);
  }
  for (const text of invalid.keys()) invalid.set(text, valid.has(text));
  return invalid;
}

/** A link's target text, or undefined when it is gone. */
export function readLinkAt(at: string): string | undefined {
  try {
    return readlinkSync(at);
  } catch (err) {
    // EINVAL: no longer a link (swapped back since the lstat): left out, like an entry gone.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EINVAL" || code === "ENOTDIR") return undefined;
    throw err;
  }
}

/** What `read` returns, or undefined when the entry was removed (or replaced by a link or a file) since it was listed. */
export function gone<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP") return undefined;
    throw err;
  }
}
