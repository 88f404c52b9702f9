import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The helper that reads inotify for us (it says why Node's fs.watch cannot). */
const WATCHER = fileURLToPath(new URL("./change-watcher.py", import.meta.url));
/** Folders watched per workspace at most, by default: watching more would take the helper seconds. */
const MAX_FOLDERS = 20_000;
/**
 * How long a workspace whose folders churn (more than twice maxFolders watched and unwatched
 * between two snapshots: a big tree moved back and forth) goes unwatched, by default: re-watching
 * it at each move would keep the helper from answering the other workspaces.
 */
const CHURN_REST_MS = 60_000;

/** What changed in a workspace since the last time it was asked about. */
export interface FolderChanges {
  /** Folders (relative, `/`-separated, "" the root) whose entries or own metadata changed. */
  readonly folders: ReadonlySet<string>;
  /** Folders new since then (made or moved in): all below them is new too. */
  readonly trees: readonly string[];
}

export interface ChangeTrackerOptions {
  /** The python3 the helper runs with (config pythonPath). */
  readonly python: string;
  /** How long an answer may take before the workspace is walked whole (config snapshotTrackerTimeoutMs). */
  readonly timeoutMs: number;
  /** The most folders watched per workspace; one with more is walked whole every time. @default 20000 */
  readonly maxFolders?: number;
  /** How long a workspace whose folders churn is walked whole before it is watched again. @default 60000 */
  readonly churnRestMs?: number;
  /** Told once why change tracking is not available (no python3, no watches left). */
  readonly onUnavailable?: (reason: string) => void;
}

interface Answer {
  readonly id: number;
  readonly full?: boolean;
  readonly folders?: string[];
  readonly trees?: string[];
  readonly unwatched?: string;
}

/**
 * Which folders of a workspace changed between two snapshots of it, from the kernel's inotify
 * events: one helper process per server (change-watcher.py) watches every folder of every
 * workspace it was asked about. A snapshot asks `changes(dir)` just before it walks; the answer
 * holds every change made before the question (the helper drains the kernel's queue first), so
 * folders it does not name are as the previous snapshot found them. Whenever that cannot be said
 * — the first question, lost events, a helper that died or does not answer — the answer is
 * undefined and the snapshot walks the whole workspace, as without tracking.
 */
export class ChangeTracker {
  private helper: ChildProcessWithoutNullStreams | undefined;
  private readonly pending = new Map<number, (answer: Answer | undefined) => void>();
  private nextId = 1;
  private unavailable = false;
  private told = false;
  private closed = false;

  constructor(private readonly options: ChangeTrackerOptions) {}

  /**
   * What changed in `dir` since the last call for it, watching it from now on; undefined when it
   * must be walked whole (first call, events lost, no helper, other `leftOut` names than before).
   * @param leftOut folder names the snapshot leaves out wherever they are (walk.ts
   *   namesLeftOutEverywhere): nothing below such a folder is watched, the folder itself is
   */
  async changes(dir: string, leftOut: readonly string[] = []): Promise<FolderChanges | undefined> {
    const answer = await this.ask({ op: "changes", root: dir, skip: leftOut });
    if (answer?.unwatched) this.tellUnavailable(`${dir} is not watched: ${answer.unwatched}`);
    if (!answer || answer.full !== false) return undefined;
    return { folders: new Set(answer.folders ?? []), trees: answer.trees ?? [] };
  }

  /** Stops watching `dir` (its next `changes` is a first call again). */
  untrack(dir: string): void {
    if (this.helper) void this.ask({ op: "untrack", root: dir });
  }

  /** Stops the helper; later calls answer undefined. */
  close(): void {
    this.closed = true;
    this.helper?.stdin.end();
    this.helper?.kill();
    this.helper = undefined;
  }

  private ask(question: { readonly op: "changes" | "untrack"; readonly root: string; readonly skip?: readonly string[] }): Promise<Answer | undefined> {
    const helper = this.running();
    if (!helper) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        // An answer that comes later would describe changes this snapshot did not take: the
        // helper is stopped, so that everything is walked again.
        this.pending.delete(id);
        this.stop(helper);
        resolve(undefined);
      }, this.options.timeoutMs);
      this.pending.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      helper.stdin.write(`${JSON.stringify({ id, ...question })}\n`);
    });
  }

  /** The helper, started when first needed (again after it died); undefined when it cannot run. */
  private running(): ChildProcessWithoutNullStreams | undefined {
    if (this.closed || this.unavailable) return undefined;
    if (this.helper) return this.helper;
    let helper: ChildProcessWithoutNullStreams;
    try {
      // -I: none of the user's site packages or PYTHON* variables; -S: no site import (faster start).
      const limits = [String(this.options.maxFolders ?? MAX_FOLDERS), String((this.options.churnRestMs ?? CHURN_REST_MS) / 1000)];
      helper = spawn(this.options.python, ["-I", "-S", WATCHER, ...limits], { stdio: ["pipe", "pipe", "pipe"] });
    } catch (err) {
      this.tellUnavailable(`${this.options.python} could not start: ${(err as Error).message}`);
      this.unavailable = true;
      return undefined;
    }
    this.helper = helper;
    let stderr = "";
    helper.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
    });
    helper.on("error", (err) => {
      // ENOENT: no such python; the spawn error comes here, not as a throw.
      this.tellUnavailable(`${this.options.python} could not start: ${err.message}`);
      if ((err as NodeJS.ErrnoException).code === "ENOENT") this.unavailable = true;
      this.stop(helper);
    });
    // A helper that died before its exit was noticed fails the next question's write (EPIPE):
    // that is one more way of dying, answered "walk it all", never an uncaught error.
    helper.stdin.on("error", () => this.stop(helper));
    helper.on("exit", (code) => {
      if (code && !this.closed) this.tellUnavailable(`the change-tracking helper exited with ${code}: ${stderr.trim().split("\n").at(-1) ?? ""}`);
      this.stop(helper);
    });
    createInterface({ input: helper.stdout }).on("line", (line) => {
      let answer: Answer;
      try {
        answer = JSON.parse(line) as Answer;
      } catch {
        return;
      }
      this.pending.get(answer.id)?.(answer);
      this.pending.delete(answer.id);
    });
    // The helper must not keep a server that is done from exiting (a question waiting for its
    // answer does, through its timer).
    helper.unref();
    for (const stream of [helper.stdin, helper.stdout, helper.stderr] as unknown as { unref?: () => void }[]) stream.unref?.();
    return helper;
  }

  /** Forgets a helper that died or hangs: every question in flight is answered "walk it all". */
  private stop(helper: ChildProcessWithoutNullStreams): void {
    if (this.helper !== helper) return;
    this.helper = undefined;
    helper.kill();
    for (const resolve of this.pending.values()) resolve(undefined);
    this.pending.clear();
  }

  private tellUnavailable(reason: string): void {
    if (this.told || this.closed) return;
    this.told = true;
    this.options.onUnavailable?.(reason);
  }
}
