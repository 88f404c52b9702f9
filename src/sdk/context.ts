/**
 * Ambient session context (seed 002's AsyncLocalStorage context flow): code run inside
 * `withSession(id, fn)` can record tool calls and events without passing the session id, across
 * awaits, timers and callbacks, and ask `currentSession()` for seed 002's ContinuumContext (the
 * session, the environment, the stack of enclosing scopes, the artifact folders). Scopes nest:
 * the innermost wins, and the outer one is back when it returns. One storage is shared by the
 * embedded API (`sessiond`) and the HTTP SDK (`sessiond/client`), so a scope opened by either is
 * seen by both.
 *
 * Pure: loads nothing but `node:async_hooks` and the core errors, so either entry point may use it.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { SessiondError } from "../core/errors.js";
import type { ToolCallOutcome } from "../core/events.js";

/**
 * Seed 002's ContinuumEnvironment: where the code of a scope runs. `server` is code in the
 * process that holds the sessions (the embedded API, and the default); `remote` is code reaching
 * them through a server (`sessiond/client`); `agent` and `persona` are what a scope says it runs
 * as (`withSession(id, fn, { environment: "persona" })`); `browser` is seed 002's name for code
 * in a web page, which this Node SDK never sets itself.
 */
export const CONTINUUM_ENVIRONMENTS = ["browser", "server", "remote", "agent", "persona"] as const;
export type ContinuumEnvironment = (typeof CONTINUUM_ENVIRONMENTS)[number];

/**
 * Seed 002's SessionPaths: a session's workspace folder and its artifact folders, as the server
 * lays them out (`$SESSIOND_HOME/workspaces/<name>/{logs,screenshots,files,recordings,devtools}`,
 * docs/api.md#artifacts-workspaces). Named, not created: a session that never stored an artifact may have
 * none of them on disk yet.
 */
export interface SessionPaths {
  /** The workspace folder. */
  readonly root: string;
  readonly logs: string;
  readonly screenshots: string;
  readonly files: string;
  readonly recordings: string;
  readonly devtools: string;
}

/** One `withSession` scope on the execution stack (seed 002's ExecutionFrame). */
export interface ExecutionFrame {
  /** The session's id or name, as given to `withSession`. */
  readonly sessionId: string;
  readonly environment: ContinuumEnvironment;
  /** When the scope was entered (ISO 8601). */
  readonly startedAt: string;
}

/** What `currentSession()` answers: seed 002's ContinuumContext. */
export interface ContinuumContext {
  /** The innermost scope's session: its id or name, as given to `withSession`. */
  readonly sessionId: string;
  /** The innermost scope's environment. */
  readonly environment: ContinuumEnvironment;
  /** Every enclosing scope, outermost first; the last is the innermost (this session's). */
  readonly executionStack: readonly ExecutionFrame[];
  /**
   * The session's artifact folders, when the scope's recorder can name them: the embedded API
   * knows its data dir; a remote client does not (its server may be on another machine), and
   * leaves this out. Also left out while the session cannot be found.
   */
  readonly sessionPaths?: SessionPaths;
}

/** What a scope records into: the embedded engine or a remote server. */
export interface SessionRecorder {
  /** Appends a `tool_call` event with this data (`tool`, `args`, `result` or `error`, `duration_ms`). */
  recordToolCall(sessionId: string, call: ToolCallRecord): Promise<unknown>;
  /** Appends an event of `type`. */
  addEvent(sessionId: string, type: string, data: Record<string, unknown>): Promise<unknown>;
  /** Where code recording here runs. @default "server" */
  readonly environment?: ContinuumEnvironment;
  /**
   * The artifact folders of the session `sessionId` (an id or name) names, or undefined when
   * they cannot be known. Synchronous: `currentSession()` calls it. A recorder without it gives
   * no `sessionPaths`.
   */
  sessionPaths?(sessionId: string): SessionPaths | undefined;
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

/** Options of {@link withSession}. */
export interface ScopeOptions {
  /** Where ambient records go. @default the enclosing scope's recorder */
  readonly recorder?: SessionRecorder;
  /**
   * What the code runs as, e.g. `agent` or `persona`. @default the recorder's environment when
   * a recorder is given, else the enclosing scope's, else `server`
   */
  readonly environment?: ContinuumEnvironment;
}

/** A scope as stored: what currentScope() shows, and the frame currentSession() builds on. */
interface Scope extends SessionScope {
  readonly parent: Scope | undefined;
  readonly environment: ContinuumEnvironment;
  readonly startedAt: string;
  /** Built on first use: a scope's enclosing scopes never change. */
  stack?: readonly ExecutionFrame[];
}

const storage = new AsyncLocalStorage<Scope>();

/**
 * Runs `fn` with `sessionId` as the current session, and returns what it returns (a promise
 * stays a promise). Everything `fn` starts — awaited calls, timers, event handlers — sees the
 * session; code after `withSession` returns does not. Nested calls shadow the outer session for
 * their duration, and stack on it in `currentSession().executionStack`.
 *
 * @param options where ambient records go (the embedded and remote APIs pass their own
 *   recorder) and what the code runs as; a recorder alone may be passed in its place
 * @example
 * await withSession(session.id, async () => {
 *   await addEvent("note", { text: "no id needed" });
 *   setTimeout(() => currentSession()?.sessionId, 10); // still session.id
 * });
 */
export function withSession<T>(sessionId: string, fn: () => T, options?: SessionRecorder | ScopeOptions): T {
  if (typeof sessionId !== "string" || sessionId === "") {
    throw new SessiondError("validation", { field: "sessionId", reason: "expected a session id or name" });
  }
  const { recorder, environment } = isRecorder(options) ? { recorder: options, environment: undefined } : (options ?? {});
  if (environment !== undefined && !CONTINUUM_ENVIRONMENTS.includes(environment)) {
    throw new SessiondError("validation", { field: "environment", reason: `expected one of ${CONTINUUM_ENVIRONMENTS.join(", ")}` }, { field: "environment" });
  }
  const parent = storage.getStore();
  const scope: Scope = {
    sessionId,
    recorder: recorder ?? parent?.recorder,
    parent,
    environment: environment ?? (recorder ? recorder.environment : parent?.environment) ?? "server",
    startedAt: new Date().toISOString(),
  };
  return storage.run(scope, fn);
}

function isRecorder(value: SessionRecorder | ScopeOptions | undefined): value is SessionRecorder {
  return typeof (value as SessionRecorder | undefined)?.recordToolCall === "function";
}

/**
 * Seed 002's ContinuumContext of the code calling it, or undefined outside any `withSession`:
 * the session, the environment, the nested scopes outermost first, and the session's artifact
 * folders when they can be known (the embedded API; not over a remote client).
 *
 * @example
 * await withSession(outer.id, () =>
 *   withSession(inner.id, () => {
 *     const context = currentSession()!;
 *     context.sessionId;                                  // inner.id
 *     context.executionStack.map((f) => f.sessionId);     // [outer.id, inner.id]
 *     context.sessionPaths?.screenshots;                  // …/workspaces/<name>/screenshots
 *   }),
 * );
 */
export function currentSession(): ContinuumContext | undefined {
  const scope = storage.getStore();
  if (!scope) return undefined;
  const paths = pathsOf(scope);
  return {
    sessionId: scope.sessionId,
    environment: scope.environment,
    executionStack: stackOf(scope),
    ...(paths ? { sessionPaths: paths } : {}),
  };
}

function stackOf(scope: Scope): readonly ExecutionFrame[] {
  if (!scope.stack) {
    const frame: ExecutionFrame = Object.freeze({ sessionId: scope.sessionId, environment: scope.environment, startedAt: scope.startedAt });
    scope.stack = Object.freeze([...(scope.parent ? stackOf(scope.parent) : []), frame]);
  }
  return scope.stack;
}

/** Asked at each call, not kept: a rename moves a session's workspace folder. */
function pathsOf(scope: Scope): SessionPaths | undefined {
  try {
    return scope.recorder?.sessionPaths?.(scope.sessionId);
  } catch {
    // A recorder that cannot tell (an ambiguous name, a closed engine) knows no folders.
    return undefined;
  }
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
