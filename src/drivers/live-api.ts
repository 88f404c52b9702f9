import { Type } from "@sinclair/typebox";
import type { CreateSessionInput } from "../core/index.js";
import type { OutputChunk } from "./driver.js";
import type { ExecKind } from "./modes.js";
import { ModeOptionsSchema } from "./mode-options.js";

/**
 * The shapes LiveSessions takes and gives, for the routes to validate and serialize: start
 * options, exec options, logs queries, output events and the live view of a session.
 */

/** Lifecycle of a live session on this server: starting its process, live, being stopped, or hibernated (no process until its next exec). */
export type LiveState = "starting" | "live" | "stopping" | "hibernated";

/** Start options of a live session besides the session's own fields. */
export const LiveStartSchema = Type.Object(
  {
    /** The working directory to start in (absolute, existing); default the session's workspace. */
    cwd: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, pattern: "^/", "x-expected": "an absolute path (starting with /)" })),
    /** Extra environment variables. */
    env: Type.Optional(
      Type.Record(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }), Type.String({ maxLength: 131_072 }), {
        additionalProperties: false,
        "x-expected": "variable names (letters, digits, _) mapped to strings",
      }),
    ),
    cols: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    rows: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    /** Whether the sandboxed session reaches the network (the host's); false leaves it only a loopback of its own. Default: config `sandboxNetwork`. */
    network: Type.Optional(Type.Boolean()),
    /** Target settings: for `server: "ssh"` {host, port, user, private_key | private_key_path, passphrase, host_key_sha256}; never stored. */
    server_options: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'for server "ssh": host, port, user, private_key or private_key_path, passphrase, host_key_sha256 (never stored)' })),
    /**
     * Credentials for the session's process, held in this server's memory only: never stored,
     * logged or returned. An llm session takes `api_key` (over config `llmApiKey`).
     */
    secrets: Type.Optional(
      Type.Record(Type.String({ pattern: "^[a-z_][a-z0-9_]*$" }), Type.String({ minLength: 1, maxLength: 16_384 }), {
        additionalProperties: false,
        description: "kind llm: {api_key} — kept in memory only (never stored); after a server restart the session uses the configured key",
        "x-expected": "names (lower case, digits, _) mapped to strings",
      }),
    ),
    /** What an exec sent while another runs does: queue (default), reject (409) or interrupt the running one. */
    exec_policy: Type.Optional(Type.Union([Type.Literal("queue"), Type.Literal("reject"), Type.Literal("interrupt")])),
    /** Python and typescript: snapshot the workspace before each exec, so that an undo puts the files back too (docs/checkpoints.md#undo). */
    undo_files: Type.Optional(Type.Boolean({ description: "python and typescript: snapshot the workspace before each exec, so that undo puts its files back too (default false: undo steps back the interpreter only)" })),
    ...ModeOptionsSchema.properties,
  },
  { additionalProperties: false },
);

/** What an exec sent while another runs does: wait in order, be refused (409 session_busy), or interrupt the running one. */
export const ExecPolicySchema = Type.Union([Type.Literal("queue"), Type.Literal("reject"), Type.Literal("interrupt")], {
  "x-expected": "queue, reject or interrupt",
});

export type ExecPolicy = "queue" | "reject" | "interrupt";

/** A stored policy, or the default (`queue`) when there is none. */
export function execPolicyOf(value: unknown): ExecPolicy {
  return value === "reject" || value === "interrupt" ? value : "queue";
}

/** Starting a live session: the session's fields (kind required) plus where and how to run. */
export type StartInput = Omit<CreateSessionInput, "kind"> & {
  /** shell (python, typescript and llm as their drivers land). */
  kind: string;
  cwd?: string;
  env?: Record<string, string>;
  cols?: number;
  rows?: number;
  network?: boolean;
  exec_policy?: ExecPolicy;
  /** Python and typescript: keep a workspace snapshot before each exec for undo. */
  undo_files?: boolean;
  /** Kind typescript: type-check cells before they run (default config `typescriptTypecheck`). */
  typecheck?: boolean;
  /** Kind llm: the model, the endpoint, and its key (memory only; `""` for none). */
  model?: string;
  base_url?: string;
  api_key?: string;
  /** Kind python: the python3 to run (absolute, executable). */
  interpreter?: string;
  /** Target settings: for `server: "ssh"`, {host, port, user, private_key | private_key_path, …} (see SshOptionsSchema). Never stored. */
  server_options?: Record<string, unknown>;
  /** Credentials held in memory only (an llm session's `api_key`). */
  secrets?: Record<string, string>;
};

/** Per-exec options. */
export interface ExecOptions {
  /** @default config execTimeoutMs; at most maxExecTimeoutMs */
  timeout_ms?: number;
  /** The command reads the terminal, so that stdin can be sent to it while it runs; else it reads /dev/null. */
  stdin?: boolean;
  /** Start the command as a background job and return at once with its pid (output to a log in the workspace). */
  background?: boolean;
  /**
   * false: a rebuild of the interpreter (restore, undo, fork, wake, recovery) must not run this
   * cell again (it sends an email, charges a card); it is reported as skipped instead.
   * @default true
   */
  replay?: boolean;
}

/** A `logs` query: execs after a seq (a number or digits) or at/after an ISO time, oldest first. */
export interface LogsQuery {
  since?: string | number;
  /** @default 100, at most 1000 */
  limit?: number;
}

/** A chunk of a running exec's output, for streams. */
export interface OutputEvent extends OutputChunk {
  readonly session_id: string;
  readonly exec_id: string;
}

/**
 * What a live session keeps across its execs, as GET /session/list shows it (seed 000's `state`):
 * where its process stands and where the next exec runs. The rest it keeps — a shell's
 * environment, an interpreter's variables, an llm conversation — is read through the session
 * (`runtime_metadata.env`, GET /sessions/{id}/events?type=message).
 */
export interface LiveSessionState {
  /** The process: starting, live (taking execs), stopping, or hibernated (none until the next exec). */
  readonly status: LiveState;
  /** Where the next exec runs (a shell's cwd after its last exec; an interpreter's os.getcwd()); null for llm sessions and before the process is up. */
  readonly cwd: string | null;
  /** Paused (SIGSTOP): execs wait, its idle and lifetime clocks stand still. */
  readonly paused: boolean;
  /** The exec running now, if any. */
  readonly running_exec_id: string | null;
  /** Execs waiting behind it. */
  readonly queued: number;
}

/**
 * A live session as `list()` shows it: seed 000's `{id, mode, server, state}`, then the fields
 * clients read before those existed (`session_id` repeats `id`, `kind` repeats `mode`; `cwd`,
 * `paused`, `running_exec_id` and `queued` repeat `state`'s).
 */
export interface LiveInfo {
  /** The session's id (GET /sessions/{id}). */
  readonly id: string;
  /** Its mode: shell, python, typescript or llm (the session's kind). */
  readonly mode: ExecKind;
  /** Where it runs: local or ssh. */
  readonly server: string;
  readonly state: LiveSessionState;
  readonly session_id: string;
  readonly name: string;
  readonly kind: ExecKind;
  readonly pid: number | null;
  readonly cwd: string | null;
  /** When the process (re)started. */
  readonly started_at: string;
  readonly last_activity_at: string;
  readonly running_exec_id: string | null;
  readonly queued: number;
  readonly exec_policy: ExecPolicy;
  /** Paused (SIGSTOP): its idle and lifetime clocks stand still. */
  readonly paused: boolean;
  /** When maxLifetimeMs ends it (moved out by pauses and extensions); null without a limit. */
  readonly lifetime_ends_at: string | null;
  /** Hibernated sessions only: since when (state.status is `hibernated`, pid null). */
  readonly hibernated_at?: string;
}

const nullableString = (description: string) => Type.Union([Type.String(), Type.Null()], { description });
const modeSchema = Type.String({ description: "shell, python, typescript or llm: the session's kind" });

/** {@link LiveInfo} on the wire (GET /session/list's items), for the OpenAPI document. */
export const LiveInfoSchema = Type.Object(
  {
    id: Type.String({ description: "the session's id (GET /sessions/{id})" }),
    mode: modeSchema,
    server: Type.String({ description: "where it runs: local or ssh" }),
    state: Type.Object(
      {
        status: Type.Union([Type.Literal("starting"), Type.Literal("live"), Type.Literal("stopping"), Type.Literal("hibernated")], {
          description: "the process: starting, live (taking execs), stopping, or hibernated (none: the next exec or attach wakes it)",
        }),
        cwd: nullableString("where the next exec runs; null for llm sessions and before the process is up"),
        paused: Type.Boolean({ description: "paused (SIGSTOP): execs wait, the idle and lifetime clocks stand still" }),
        running_exec_id: nullableString("the exec running now"),
        queued: Type.Integer({ minimum: 0, description: "execs waiting behind it" }),
      },
      { description: "what the session keeps across execs (seed 000); its environment, variables or conversation are read through the session" },
    ),
    session_id: Type.String({ description: "repeats id" }),
    name: Type.String(),
    kind: Type.String({ description: "repeats mode" }),
    pid: Type.Union([Type.Integer(), Type.Null()], { description: "the session's process on this server's host (on the remote host for ssh)" }),
    cwd: nullableString("repeats state.cwd"),
    started_at: Type.String({ format: "date-time", description: "when the process (re)started" }),
    last_activity_at: Type.String({ format: "date-time" }),
    running_exec_id: nullableString("repeats state.running_exec_id"),
    queued: Type.Integer({ minimum: 0, description: "repeats state.queued" }),
    exec_policy: Type.Union([Type.Literal("queue"), Type.Literal("reject"), Type.Literal("interrupt")]),
    paused: Type.Boolean({ description: "repeats state.paused" }),
    lifetime_ends_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()], { description: "when maxLifetimeMs ends it; null without a limit" }),
    hibernated_at: Type.Optional(Type.String({ format: "date-time", description: "hibernated sessions only: since when (docs/checkpoints.md#hibernation)" })),
  },
  { additionalProperties: false, description: "a live session on this server (seed 000's {id, mode, server, state}, then more)" },
);
