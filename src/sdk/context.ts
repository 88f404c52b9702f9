/**
 * Ambient session context (seed 002's AsyncLocalStorage context flow): code run inside
 * `withSession(id, fn)` can record tool calls and events without passing the session id, across
 * awaits, timers and callbacks. Scopes nest: the innermost wins, and the outer one is back when
 * it returns. One storage is shared by the embedded API (`sessiond`) and the HTTP SDK
 * (`sessiond/client`), so a scope opened by either is seen by both.
 *
 * Pure: loads nothing but `node:async_hooks` and the core errors, so either entry point may use it.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { SessiondError } from "../core/errors.js";
import type { ToolCallOutcome } from "../core/events.js";

/** What a scope records into: the embedded engine or a remote server. */
export interface SessionRecorder {
  /** Appends a `tool_call` event with this data (`tool`, `args`, `result` or `error`, `duration_ms`). */
  recordToolCall(sessionId: string, call: ToolCallRecord): Promise<unknown>;
  /** Appends an event of `type`. */
  addEvent(sessionId: string, type: string, data: Record<string, unknown>): Promise<unknown>;
}

/** A tool call as an event's data: `error` when it threw, `duration_ms` when it was timed. */
export interface ToolCallRecord extends ToolCallOutcome {
  tool: string;
  args?: unknown;
  result?: unknown;
}

/** The scope code runs in. */
export interface SessionScope {
  /** The session's id or name, as given to `withSession`. */
  readonly sessionId: string;
  /** Where `instrument`ed calls and ambient `recordToolCall`/`addEvent` go. */
  readonly recorder: SessionRecorder | undefined;
  /** The scope this one is nested in. */
  readonly parent: SessionScope | undefined;
}

const storage = new AsyncLocalStorage<SessionScope>();

/**
 * Runs `fn` with `sessionId` as the current session, and returns what it returns (a promise
 * stays a promise). Everything `fn` starts — awaited calls, timers, event handlers — sees the
 * session; code after `withSession` returns does not. Nested calls shadow the outer session for
 * their duration.
 *
 * @param recorder where ambient records go; the embedded and remote APIs pass their own
 * @example
 * await withSession(session.id, async () => {
 *   await addEvent("note", { text: "no id needed" });
 *   setTimeout(() => currentSession(), 10); // still session.id
 * });
 */
export function withSession<T>(sessionId: string, fn: () => T, recorder?: SessionRecorder): T {
  if (typeof sessionId !== "string" || sessionId === "") {
    throw new SessiondError("validation", { field: "sessionId", reason: "expected a session id or name" });
  }
  return storage.run({ sessionId, recorder: recorder ?? storage.getStore()?.recorder, parent: storage.getStore() }, fn);
}

/** The id (or name) of the session the caller runs in, or undefined outside any `withSession`. */
export function currentSession(): string | undefined {
  return storage.getStore()?.sessionId;
}

/** The whole current scope (session, recorder, enclosing scope), or undefined outside any. */
export function currentScope(): SessionScope | undefined {
  return storage.getStore();
}

/**
 * The current session's id, for a function called without one.
 * @throws no_session_context outside `withSession`
 */
export function requireSession(operation: string): SessionScope {
  const scope = storage.getStore();
  if (!scope) throw new SessiondError("no_session_context", { operation });
  return scope;
}

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /**
   * Called when the tool_call event could not be recorded (the tool's own outcome is still
   * returned or thrown unchanged). @default emits a process warning
   */
  onRecordError?: (err: unknown) => void;
}

/**
 * Wraps `fn` so that each call made inside a session scope records a `tool_call` event:
 * `{tool: name, args, result, duration_ms}`, or `{tool, args, error: {name, message, code?},
 * duration_ms}` when it throws or rejects — and the error is rethrown unchanged (same object).
 * An async `fn` resolves only once the event is recorded, so events keep the order of the calls;
 * a sync `fn` returns at once and records in the background. Outside any session scope the call
 * goes straight through, unrecorded. `args` and `result` must be JSON-serializable to be kept.
 *
 * @example
 * const readFile = instrument(fs.promises.readFile, "read_file");
 * await withSession(id, () => readFile("a.txt", "utf8")); // records tool_call {tool: "read_file", …}
 */
export function instrument<A extends unknown[], R>(fn: (...args: A) => R, name: string = fn.name || "anonymous", options: InstrumentOptions = {}): (...args: A) => R {
  const onRecordError = options.onRecordError ?? warn;
  const wrapped = function (this: unknown, ...args: A): R {
    const scope = storage.getStore();
    if (!scope?.recorder) return fn.apply(this, args);
    const { sessionId, recorder } = scope;
    const started = performance.now();
    const record = (outcome: { result: unknown } | { error: unknown }): Promise<void> => {
      const call: ToolCallRecord = {
        tool: name,
        args: args.length === 1 ? args[0] : args,
        ...("error" in outcome ? { error: describeError(outcome.error) } : { result: outcome.result }),
        duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
      };
      return recorder.recordToolCall(sessionId, call).then(
        () => undefined,
        (err: unknown) => onRecordError(err),
      );
    };
    let value: R;
    try {
      value = fn.apply(this, args);
    } catch (err) {
      void record({ error: err });
      throw err;
    }
    if (isPromiseLike(value)) {
      return Promise.resolve(value).then(
        async (result) => {
          await record({ result });
          return result;
        },
        async (err: unknown) => {
          await record({ error: err });
          throw err;
        },
      ) as R;
    }
    void record({ result: value });
    return value;
  };
  Object.defineProperty(wrapped, "name", { value: fn.name || name });
  return wrapped;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

/** An error as JSON data: what a reader of the event needs, without the stack. */
export function describeError(err: unknown): { name: string; message: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, ...(typeof code === "string" ? { code } : {}) };
  }
  return { name: typeof err, message: String(err) };
}

function warn(err: unknown): void {
  process.emitWarning(`sessiond: could not record a tool_call event: ${err instanceof Error ? err.message : String(err)}`, "SessiondWarning");
}
