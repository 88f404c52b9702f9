import type { JsonObject, SessionStatus } from "./session.js";

/** Event types the engine itself records. Any other non-empty string is a custom type (seed 004 `addEvent`). */
export const BUILTIN_EVENT_TYPES = [
  "start",
  "iteration",
  "tool_call",
  "learning",
  "pause",
  "resume",
  "complete",
  "error",
  "timeout",
  "crash",
  "recover",
  "context_update",
  "checkpoint",
  "restore",
  "exec",
  "message",
] as const;
export type BuiltinEventType = (typeof BUILTIN_EVENT_TYPES)[number];

/** One entry of a session's append-only history. `seq` runs 1, 2, 3… with no gap. */
export interface SessionEvent {
  readonly seq: number;
  /** ISO timestamp. */
  readonly ts: string;
  readonly type: string;
  readonly data: JsonObject;
}

/** A range query over a session's events. */
export interface EventQuery {
  /** Only events with seq > after_seq. @default 0 */
  after_seq?: number;
  /** Only events with seq <= to_seq. */
  to_seq?: number;
  /** Only these types. */
  types?: string[];
  /** @default 100 */
  limit?: number;
  /** Newest first instead of oldest first. @default false */
  descending?: boolean;
}

/** The part of a session that checkpoints capture and restore rewinds. */
export interface SessionState {
  readonly context: JsonObject;
  readonly status: SessionStatus;
  readonly iterations: number;
  /** A checkpoint `with_files`: the snapshot of the session's workspace it holds (docs/checkpoints.md). */
  readonly workspace?: WorkspaceState;
}

/** A workspace snapshot as a checkpoint records it. */
export interface WorkspaceState {
  /** The manifest's digest (`sha256:<hex>`): the whole tree, content-addressed. */
  readonly digest: string;
  /** Regular files in it. */
  readonly files: number;
  /** Their bytes, all together. */
  readonly bytes: number;
  /**
   * What the snapshot left out, when it left something out: FIFOs, sockets, devices, and entries
   * whose names are not UTF-8 (with all below them) — how many, and the first of their paths
   * (WORKSPACE_LEFT_OUT_PATHS and WORKSPACE_LEFT_OUT_BYTES at most; a name that is not UTF-8
   * shown with U+FFFD).
   */
  readonly left_out?: { readonly count: number; readonly paths: readonly string[] };
}

/** The most paths a checkpoint's `workspace.left_out` names (it counts them all)… */
export const WORKSPACE_LEFT_OUT_PATHS = 100;
/** …and the most bytes of path text it holds (a path 256 folders deep can be tens of KB). */
export const WORKSPACE_LEFT_OUT_BYTES = 32 * 1024;

/** What the CLI, the repl and fork take for a session's newest checkpoint (so no checkpoint may be labelled so). */
export const LATEST_CHECKPOINT = "latest";

/** A named point in a session's history to restore or fork from. */
export interface Checkpoint {
  readonly id: string;
  readonly session_id: string;
  /** The seq of the `checkpoint` event that recorded it. */
  readonly seq: number;
  readonly label: string | null;
  /** What the caller chose to save (seed 003's checkpoint body). */
  readonly data: JsonObject;
  /** The session's context, status and iterations at `seq`. */
  readonly state: SessionState;
  readonly created_at: string;
}

/** How a tool call ended, beside its result: the error it threw (recorded in place of the result), and its wall time. */
export interface ToolCallOutcome {
  readonly error?: { readonly name: string; readonly message: string; readonly code?: string };
  readonly duration_ms?: number;
}
