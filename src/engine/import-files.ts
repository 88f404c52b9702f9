/**
 * Reads one session's files as the seeds write them into a SessionImport (pure: the caller
 * reads the disk). The shapes are documented in docs/import-export.md:
 *
 * - layout `sessions` — seed 004's `session.json` (its AgentSession: camelCase fields and a
 *   `history` of `{timestamp, type, data}`); our own export adds a `sessiond` member with what
 *   seed 004 has no field for, and comes back exactly.
 * - layout `activity` — seed 000's `meta.json` (`{id, mode, server, state}`, times optional) with
 *   `01-exec.json`, `02-exec.json`… (one exec result each: seed 000's `output`/`exitCode`/
 *   `timestamp` or our `stdout`/`exit_code`/`started_at`…); our own export keeps the session
 *   record and its other events in meta.json's `sessiond` member.
 *
 * A time a file does not hold is its `mtime`. Every field read is checked by type; a wrong one
 * is a validation error naming the file and the field (`files.1.content.exitCode`).
 */
import {
  type Checkpoint,
  EXEC_KINDS,
  type JsonObject,
  type SessionEvent,
  SessiondError,
  errors,
  isExecKind,
} from "../core/index.js";
import type { SessionImport } from "./import-record.js";

/** One file of a session's folder, as POST /import/sessions takes it. */
export interface ImportFile {
  /** Its name: `session.json`, `meta.json`, `01-exec.json`… */
  readonly name: string;
  /** Its JSON, as written. */
  readonly content: unknown;
  /** Its modification time (ISO 8601): the time of what it records when it holds none itself. */
  readonly mtime?: string;
}

/** One session's files in one of the layouts `sessiond export` writes. */
export interface SessionFiles {
  readonly layout: "sessions" | "activity";
  readonly files: readonly ImportFile[];
}

/** A session read from its files, and how to name the file behind a later refusal of it. */
export interface ReadFiles {
  readonly body: SessionImport;
  /**
   * The same error with its field moved onto the file it came from, when it is a validation
   * error about the import built from the files (`events.3.data.stdout` → the exec file's
   * `content`); any other error as it is.
   */
  blame(err: unknown): unknown;
}

/**
 * Reads one session's files. `modes`: the modes a meta.json may name — those this server has a
 * driver for (the built-in ones and any registered, docs/drivers.md).
 * @throws validation naming the file and the field (`files.1.content.exitCode`), a file name
 *   the layout has no place for (`files.2.name`), or a time no file gives (`files.0.mtime`)
 */
export function readSessionFiles(input: SessionFiles, modes: readonly string[] = EXEC_KINDS): ReadFiles {
  const seen = new Map<string, number>();
  input.files.forEach((file, i) => {
    if (seen.has(file.name)) throw errors.validation(`files.${i}.name`, `${file.name} is given twice`);
    seen.set(file.name, i);
  });
  return input.layout === "sessions" ? readSeed004(input.files) : readActivity(input.files, modes);
}

// ---- one file ---------------------------------------------------------------------------------

const ISO_DATE = /^\d{4}-\d{2}-\d{2}/;

/** A file's JSON object, read field by field (null counts as absent); each refusal names the file and the field. */
class FileFields {
  readonly value: JsonObject;

  constructor(
    private readonly file: ImportFile,
    readonly index: number,
  ) {
    if (!isObject(file.content)) throw errors.validation(`files.${index}.content`, `${file.name}: expected a JSON object`);
    this.value = file.content;
  }

  get name(): string {
    return this.file.name;
  }

  fail(key: string, reason: string): never {
    throw errors.validation(`files.${this.index}.content.${key}`, `${this.file.name} ${key}: ${reason}`);
  }

  /** The first of `keys` the file holds (not null). */
  pick(keys: readonly string[]): string | undefined {
    return keys.find((k) => this.value[k] != null);
  }

  string(key: string, value: unknown = this.value[key]): string | undefined {
    if (value == null) return undefined;
    return typeof value === "string" && value.length > 0 ? value : this.fail(key, `expected a non-empty string, got ${shown(value)}`);
  }

  /** Free text: any string, empty included. */
  text(key: string, value: unknown = this.value[key]): string | undefined {
    if (value == null) return undefined;
    return typeof value === "string" ? value : this.fail(key, `expected a string, got ${shown(value)}`);
  }

  requiredString(key: string, value: unknown = this.value[key]): string {
    return this.string(key, value) ?? this.fail(key, "missing");
  }

  /** An ISO 8601 timestamp, normalized (`2026-01-02T08:00:00.000Z`). */
  time(key: string, value: unknown = this.value[key]): string | undefined {
    if (value == null) return undefined;
    const ms = typeof value === "string" && ISO_DATE.test(value) ? Date.parse(value) : Number.NaN;
    return Number.isNaN(ms) ? this.fail(key, `expected an ISO 8601 timestamp, got ${shown(value)}`) : new Date(ms).toISOString();
  }

  /** The first of `keys` that is present, as a timestamp. */
  firstTime(keys: readonly string[]): string | undefined {
    const key = this.pick(keys);
    return key === undefined ? undefined : this.time(key);
  }

  integer(key: string, min: number, value: unknown = this.value[key]): number | undefined {
    if (value == null) return undefined;
    return Number.isSafeInteger(value) && (value as number) >= min ? (value as number) : this.fail(key, `expected an integer from ${min}, got ${shown(value)}`);
  }

  object(key: string, value: unknown = this.value[key]): JsonObject | undefined {
    if (value == null) return undefined;
    return isObject(value) ? value : this.fail(key, `expected an object, got ${shown(value)}`);
  }

  array(key: string, value: unknown = this.value[key]): unknown[] | undefined {
    if (value == null) return undefined;
    return Array.isArray(value) ? value : this.fail(key, `expected an array, got ${shown(value)}`);
  }

  /** The file's mtime, for a time it does not hold itself (`what` names the fields looked for). */
  mtime(what: string): string {
    const ms = this.file.mtime === undefined ? Number.NaN : Date.parse(this.file.mtime);
    if (Number.isNaN(ms)) throw errors.validation(`files.${this.index}.mtime`, `${this.file.name} holds no ${what} and no mtime was sent`);
    return new Date(ms).toISOString();
  }

  /** Like `mtime`, or undefined when none was sent. */
  mtimeIfSent(): string | undefined {
    return this.file.mtime === undefined ? undefined : this.mtime("time");
  }
}

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** A value as a refusal quotes it: short JSON. */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Where each part of a built import came from, to name the file behind a later refusal. */
class Origins {
  /** The file of each event, by index. */
  readonly events: number[] = [];

  constructor(readonly main: number) {}

  blame(err: unknown, files: readonly ImportFile[]): unknown {
    if (!(err instanceof SessiondError) || typeof err.field !== "string" || !/^(session|events|checkpoints)\b/.test(err.field)) return err;
    const at = /^events\.(\d+)\b/.exec(err.field);
    const index = at ? (this.events[Number(at[1])] ?? this.main) : this.main;
    const where = `files.${index}.content`;
    const name = files[index]!.name;
    if (err.code === "too_large") {
      return new SessiondError("too_large", { ...err.params, field: `${name} (as imported, ${err.field})` }, { field: where });
    }
    if (err.code !== "validation") return err;
    const reason = typeof err.params.reason === "string" ? err.params.reason : err.message;
    return errors.validation(where, `${name}: as imported, ${err.field} ${reason}`);
  }
}

// ---- what our own export adds -----------------------------------------------------------------

/** The fields of an exported session record that an import sends back (the rest the server derives). */
const KEPT = [
  "id", "name", "kind", "type", "mode", "agent_id", "user_id", "channel_id", "labels", "task", "workspace",
  "max_iterations", "context", "checkpoint", "runtime_backend", "runtime_metadata", "server", "metadata",
  "status", "iterations", "result", "error", "parent", "created_at", "updated_at", "started_at", "ended_at", "version",
  "participants",
] as const;

/** Our export's `sessiond` member: the whole session record, its checkpoints and (activity) its other events. */
function exported(f: FileFields): { session: SessionImport["session"]; checkpoints: SessionImport["checkpoints"]; events: unknown[] } | undefined {
  const extras = f.value.sessiond;
  if (!isObject(extras) || !isObject(extras.session)) return undefined;
  const session: Record<string, unknown> = {};
  for (const key of KEPT) if (extras.session[key] !== undefined) session[key] = extras.session[key];
  const checkpoints = (f.array("sessiond.checkpoints", extras.checkpoints) ?? []).map((c, i) => {
    // A python or typescript checkpoint's `interpreter` is derived from the session's events (this
    // server derives it again from the imported ones); the workspace files a checkpoint `with_files`
    // held are not in an export, so the imported one keeps its context, status and iterations only
    // (docs/import-export.md).
    const { session_id: _, interpreter: _derived, ...rest } = f.object(`sessiond.checkpoints.${i}`, c)!;
    if (isObject(rest.state)) {
      const { workspace: _files, ...state } = rest.state;
      rest.state = state;
    }
    return rest as unknown as Omit<Checkpoint, "session_id">;
  });
  return { session: session as unknown as SessionImport["session"], checkpoints, events: f.array("sessiond.events", extras.events) ?? [] };
}

// ---- sessions (seed 004) ----------------------------------------------------------------------

const SEED004_STATUSES = ["active", "paused", "completed", "failed", "timeout"];
const TERMINAL = new Set(["completed", "failed", "timeout"]);

/**
 * Seed 004's `session.json`: camelCase fields to ours, `history` to events 1, 2, 3… (or the
 * seqs our export wrote), a terminal status ending at `updatedAt`.
 */
function readSeed004(files: readonly ImportFile[]): ReadFiles {
  files.forEach((file, i) => {
    if (file.name !== "session.json") throw errors.validation(`files.${i}.name`, `${file.name}: the sessions layout has one file, session.json`);
  });
  const f = new FileFields(files[0]!, 0);
  const events: SessionEvent[] = (f.array("history") ?? []).map((entry, i) => {
    const key = `history.${i}`;
    const e = f.object(key, entry)!;
    return {
      seq: f.integer(`${key}.seq`, 1, e.seq) ?? i + 1,
      ts: f.time(`${key}.timestamp`, e.timestamp) ?? f.fail(`${key}.timestamp`, "missing"),
      type: f.requiredString(`${key}.type`, e.type),
      data: f.object(`${key}.data`, e.data) ?? {},
    };
  });
  const origins = new Origins(0);
  const blame = (err: unknown) => origins.blame(err, files);
  const ours = exported(f);
  if (ours) return { body: { session: ours.session, events, checkpoints: ours.checkpoints }, blame };

  const id = f.requiredString("id");
  const status = f.requiredString("status");
  if (!SEED004_STATUSES.includes(status)) f.fail("status", `expected one of ${SEED004_STATUSES.join(", ")}, got ${shown(status)}`);
  const createdAt = f.time("createdAt") ?? f.fail("createdAt", "missing");
  const updatedAt = f.time("updatedAt") ?? createdAt;
  const iterations = f.integer("iterations", 0);
  const maxIterations = f.integer("maxIterations", 1);
  const text = (key: string) => f.text(key);
  const error = f.value.error === null ? null : f.text("error");
  const session = {
    id,
    kind: "agent" as const,
    status: status as SessionImport["session"]["status"],
    created_at: createdAt,
    updated_at: updatedAt,
    started_at: createdAt,
    ended_at: TERMINAL.has(status) ? updatedAt : null,
    iterations: iterations ?? 0,
    ...(maxIterations !== undefined ? { max_iterations: maxIterations } : {}),
    ...optional("mode", text("mode")),
    ...optional("task", text("task")),
    ...optional("workspace", text("workspace")),
    ...optional("user_id", text("userId")),
    ...optional("channel_id", text("channelId")),
    ...optional("context", f.object("context")),
    ...optional("metadata", f.object("metadata")),
    ...optional("result", f.value.result),
    ...optional("error", error),
  };
  return { body: { session, events }, blame };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

// ---- activity (seed 000) ----------------------------------------------------------------------

const EXEC_FILE = /^(\d+)-exec\.json$/;
const EXEC_STATUSES = ["ok", "error", "timeout", "interrupted"];
/** The fields of our exec results (drivers/exec-result.ts), checked by type on import. */
const KNOWN_EXEC_FIELDS = new Set([
  "exec_id", "input", "stdout", "stderr", "stdout_base64", "stderr_base64", "exit_code", "status", "started_at",
  "duration_ms", "truncated", "process_exited", "pid", "log_path",
]);

/** Where a meta.json may hold when its session started, and when it ended (first present wins). */
const START_KEYS = ["startedAt", "started_at", "createdAt", "created_at", "timestamp"];
const END_KEYS = ["endedAt", "ended_at", "stoppedAt", "stopped_at"];
/** Where an exec file may hold when it ran (first present wins); `ts` is our export's event time. */
const EXEC_TIME_KEYS = ["started_at", "startedAt", "timestamp", "ts"];

/** Seed 000's names (and camelCase ones) for the fields of our exec results. */
const EXEC_ALIASES: Readonly<Record<string, string>> = {
  command: "input",
  output: "stdout",
  exitCode: "exit_code",
  startedAt: "started_at",
  timestamp: "started_at",
  durationMs: "duration_ms",
  execId: "exec_id",
};

/**
 * Seed 000's activity folder: meta.json gives the session (mode → kind, state → runtime
 * metadata), each exec file an `exec` event after a `start` event. Times: see docs/import-export.md.
 */
function readActivity(files: readonly ImportFile[], modes: readonly string[]): ReadFiles {
  let metaIndex: number | undefined;
  const numbered: { n: number; index: number }[] = [];
  files.forEach((file, index) => {
    const m = EXEC_FILE.exec(file.name);
    if (m) numbered.push({ n: Number(m[1]), index });
    else if (file.name === "meta.json") metaIndex = index;
    else throw errors.validation(`files.${index}.name`, `${file.name}: the activity layout has meta.json and 01-exec.json, 02-exec.json…`);
  });
  if (metaIndex === undefined) throw errors.validation("files", "the activity layout needs meta.json");
  const metaAt = metaIndex;
  numbered.sort((a, b) => a.n - b.n);
  numbered.forEach((x, i) => {
    if (x.n !== i + 1) throw errors.validation(`files.${x.index}.name`, `exec files are numbered 1, 2, 3…: ${files[x.index]!.name} is number ${i + 1}`);
  });
  const meta = new FileFields(files[metaIndex]!, metaIndex);
  const execs = numbered.map((x) => new FileFields(files[x.index]!, x.index));
  const origins = new Origins(metaIndex);
  const blame = (err: unknown) => origins.blame(err, files);

  const ours = exported(meta);
  if (ours) {
    const events = ours.events.map((e, i) => {
      origins.events.push(metaAt);
      return meta.object(`sessiond.events.${i}`, e) as unknown as SessionEvent;
    });
    for (const x of execs) {
      const seq = x.integer("seq", 1) ?? x.fail("seq", "missing");
      const ts = x.time("ts") ?? x.fail("ts", "missing");
      events.push({ seq, ts, type: "exec", data: execData(x, ts) });
      origins.events.push(x.index);
    }
    const order = events.map((e, i) => ({ e, from: origins.events[i]! })).sort((a, b) => a.e.seq - b.e.seq);
    origins.events.splice(0, origins.events.length, ...order.map((o) => o.from));
    return { body: { session: ours.session, events: order.map((o) => o.e), checkpoints: ours.checkpoints }, blame };
  }

  const id = meta.requiredString("id");
  const mode = meta.requiredString("mode");
  const kind = isExecKind(mode) && modes.includes(mode) ? mode : meta.fail("mode", `${shown(mode)} is not a mode sessiond runs: expected one of ${modes.join(", ")}`);
  const server = meta.string("server");
  const state = meta.object("state");
  const ended = meta.firstTime(END_KEYS) ?? null;

  const execEvents = execs.map((x) => {
    const key = x.pick(EXEC_TIME_KEYS);
    const startedAt = key === undefined ? x.mtime(EXEC_TIME_KEYS.join(", ")) : x.time(key)!;
    const ts = x.time("ts") ?? startedAt;
    return { ts, type: "exec", data: execData(x, startedAt) };
  });
  // A session starts no later than its first exec: a meta.json without a time of its own may have
  // been written again after the execs (a count, a state), so its mtime alone can come late.
  const created =
    meta.firstTime(START_KEYS) ??
    earliest([meta.mtimeIfSent(), ...execEvents.map((e) => e.ts)]) ??
    meta.mtime(START_KEYS.join(", "));
  const events: SessionEvent[] = [
    { seq: 1, ts: created, type: "start", data: { kind, imported_from: "activity" } },
    ...execEvents.map((e, i) => ({ seq: i + 2, ...e })),
  ];
  origins.events.push(metaIndex, ...execs.map((x) => x.index));
  const newest = events.reduce((latest, e) => (e.ts > latest ? e.ts : latest), created);
  return {
    body: {
      session: {
        id,
        kind,
        // A live session's mode is its kind, as for one started here (seed 000's `mode`).
        mode: kind,
        ...optional("server", server),
        status: ended ? "completed" : "crashed",
        created_at: created,
        started_at: created,
        updated_at: ended ?? newest,
        ended_at: ended,
        ...optional("runtime_metadata", state),
      },
      events,
    },
    blame,
  };
}

function earliest(times: readonly (string | undefined)[]): string | undefined {
  return times.filter((t): t is string => t !== undefined).sort()[0];
}

/**
 * An exec file as the data of its `exec` event, in the file's own key order: seed 000's names
 * become ours (`output` → `stdout`, `exitCode` → `exit_code`, `timestamp` → `started_at`…) unless
 * the file also holds ours, each known field is checked by type, other fields are kept as they
 * are, and what is missing gets a default (a status from the exit code). `seq` and `ts` are the
 * event's, not the data's.
 */
function execData(x: FileFields, startedAt: string): JsonObject {
  const data: JsonObject = {};
  let exitGiven = false;
  for (const [key, value] of Object.entries(x.value)) {
    if (key === "seq" || key === "ts") continue;
    const alias = EXEC_ALIASES[key];
    const field = alias !== undefined && x.value[alias] === undefined && data[alias] === undefined ? alias : key;
    if (field === "exit_code") exitGiven = true;
    const checked = checkedExecField(x, field, key, value);
    if (checked !== undefined) data[field] = checked;
  }
  const exit = data.exit_code ?? null;
  const defaults: JsonObject = {
    exec_id: x.name.replace(/\.json$/, ""),
    input: "",
    stdout: "",
    stderr: "",
    exit_code: null,
    // No exit code: nothing says it failed.
    status: !exitGiven || exit === 0 ? "ok" : "error",
    started_at: startedAt,
    duration_ms: 0,
    truncated: false,
  };
  for (const [field, value] of Object.entries(defaults)) if (data[field] === undefined) data[field] = value;
  return data;
}

/**
 * One field of an exec file, checked by the type our exec results give it (`key` as the file
 * names it); undefined for a null where null means nothing (a string, a status, a time).
 */
function checkedExecField(x: FileFields, field: string, key: string, value: unknown): unknown {
  if (value === null && field !== "exit_code" && field !== "pid" && KNOWN_EXEC_FIELDS.has(field)) return undefined;
  switch (field) {
    case "exec_id":
      return x.requiredString(key, value);
    case "input":
    case "stdout":
    case "stderr":
    case "stdout_base64":
    case "stderr_base64":
    case "log_path":
      return x.text(key, value);
    case "exit_code":
    case "pid":
      return value === null || Number.isSafeInteger(value) ? value : x.fail(key, `expected an integer or null, got ${shown(value)}`);
    case "status":
      return typeof value === "string" && EXEC_STATUSES.includes(value) ? value : x.fail(key, `expected one of ${EXEC_STATUSES.join(", ")}, got ${shown(value)}`);
    case "started_at":
      return x.time(key, value)!;
    case "duration_ms":
      return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : x.fail(key, `expected a number of milliseconds from 0, got ${shown(value)}`);
    case "truncated":
    case "process_exited":
      return typeof value === "boolean" ? value : x.fail(key, `expected true or false, got ${shown(value)}`);
    default:
      return value;
  }
}
