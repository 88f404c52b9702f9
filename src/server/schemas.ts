import { type TObject, type TProperties, type TSchema, Type } from "@sinclair/typebox";
import {
  CreateSessionSchema,
  EventTypeSchema,
  LABEL_KEY_PATTERN,
  MAX_SEARCH_LENGTH,
  TASK_SEARCH_CHARS,
  ParticipantKindSchema,
  SET_ELSEWHERE,
  RuntimeBackendSchema,
  SessionKindSchema,
  SessionStatusSchema,
  UpdateSessionSchema,
  WORKSPACE_LEFT_OUT_BYTES,
  WORKSPACE_LEFT_OUT_PATHS,
  indexedText,
  searchTextSchema,
  sessionSortSchema,
  sortOrderSchema,
  storedInteger,
} from "../core/index.js";
import { LiveStartSchema } from "../drivers/index.js";

/**
 * The wire schemas of the HTTP API: request bodies and query strings (validated), responses
 * (documented in /openapi.json; the server writes its JSON itself). Session input reuses the
 * engine's schemas, plus seed 003's `session_type` alias and the optimistic `version`.
 */

const jsonObject = Type.Object({}, { additionalProperties: true, description: "a JSON object" });
/** A schema, or null. */
export const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const version = storedInteger({ description: "apply only if the session is at this version (as If-Match does)" });

/** A session id or name. */
export const SessionParams = Type.Object(
  {
    id: Type.String({
      minLength: 1,
      // The router's cap on a path parameter (maxParamLength): room for a long agent_id.
      maxLength: 1024,
      description: "the session's id, its name, or agent_id/name with the slash as %2F (docs/api.md#names)",
    }),
  },
  { additionalProperties: false },
);

/** A session id or name and a checkpoint id. */
export const CheckpointParams = Type.Object(
  {
    id: SessionParams.properties.id,
    cid: Type.String({ minLength: 1, maxLength: 128, description: "the checkpoint's id" }),
  },
  { additionalProperties: false },
);

/**
 * Request headers as documented (the routes parse them: etag.ts, the streams' cursors). Not
 * validated by Fastify (see typeboxValidatorCompiler).
 */
export const IfMatchHeaders = Type.Object({
  "If-Match": Type.Optional(Type.String({ description: 'apply only if the session is at this version: its ETag (`W/"3"`), a list of them, or `*`; 412 when it has moved on' })),
});
export const IfNoneMatchHeaders = Type.Object({
  "If-None-Match": Type.Optional(Type.String({ description: "the ETag you hold: 304 when the session is still at that version" })),
});
export const LastEventIdHeaders = Type.Object({
  "Last-Event-ID": Type.Optional(Type.String({ description: "the `id:` of the last SSE message received; EventSource sends it when it reconnects, and it wins over the URL's starting point" })),
});

const sessionType = indexedText({ description: "seed 003's name for `type` (conversation, development, task, batch…)" });

/** POST /sessions/: the engine's create input, `session_type` as an alias of `type`. */
export const CreateSessionBody = Type.Object(
  {
    ...CreateSessionSchema.properties,
    session_type: Type.Optional(nullable(sessionType)),
    // Process options of an exec kind (shell…), which starts a live session.
    ...LiveStartSchema.properties,
  },
  {
    additionalProperties: false,
    [SET_ELSEWHERE]: {
      status: "not set at creation: a session starts active, and its status changes through PATCH /sessions/{id} or the lifecycle routes (pause, resume, complete, fail)",
      version: "not set at creation: the server counts a session's versions (send one in If-Match or PATCH to update only that version)",
      iterations: "not set at creation: a session counts its iterations (POST /sessions/{id}/iterations)",
    },
  },
);

/** PATCH /sessions/{id} (plain JSON or form): the engine's update input, `session_type`, and `version` for If-Match. */
export const UpdateSessionBody = Type.Object(
  {
    ...UpdateSessionSchema.properties,
    session_type: Type.Optional(nullable(sessionType)),
    version: Type.Optional(version),
  },
  { additionalProperties: false },
);

const { context_patch: _contextPatch, labels: _labels, ...mergeable } = UpdateSessionBody.properties;

/**
 * `application/merge-patch+json` (RFC 7396): a patch of the session resource. `context`,
 * `metadata`, `runtime_metadata` and `labels` merge (null deletes a key); other members replace.
 */
export const MergePatchSessionBody = Type.Object(
  {
    ...mergeable,
    labels: Type.Optional(
      Type.Record(Type.String({ pattern: LABEL_KEY_PATTERN }), nullable(Type.String({ maxLength: 256 })), {
        additionalProperties: false,
        description: "labels to set; null deletes one",
      }),
    ),
  },
  { additionalProperties: false },
);

const stringOrList = <T extends TSchema>(schema: T, expected?: string) =>
  Type.Union([schema, Type.Array(schema, { minItems: 1, maxItems: 16 })], expected ? { "x-expected": expected } : {});
const isoTimestamp = Type.String({ format: "date-time", description: "an ISO 8601 timestamp" });

const filterProperties = {
  agent_id: Type.Optional(Type.String({ maxLength: 1024 })),
  user_id: Type.Optional(Type.String({ maxLength: 1024 })),
  channel_id: Type.Optional(Type.String({ maxLength: 1024 })),
  status: Type.Optional(stringOrList(SessionStatusSchema)),
  kind: Type.Optional(stringOrList(SessionKindSchema)),
  type: Type.Optional(Type.String({ maxLength: 1024 })),
  session_type: Type.Optional(Type.String({ maxLength: 1024, description: "alias of type" })),
  mode: Type.Optional(Type.String({ maxLength: 1024 })),
  label: Type.Optional(
    stringOrList(
      Type.String({ pattern: `${LABEL_KEY_PATTERN.replace(/\$$/, "")}:`, maxLength: 400, description: "key:value; every one given must match" }),
      "key:value (a label key, a colon, its value), or a list of them",
    ),
  ),
  created_after: Type.Optional(isoTimestamp),
  created_before: Type.Optional(isoTimestamp),
  q: Type.Optional(
    searchTextSchema({
      description: `text the name or the first ${TASK_SEARCH_CHARS} characters of the task contain, ignoring the case of ASCII letters; every character stands for itself (no wildcards); at most ${MAX_SEARCH_LENGTH} UTF-16 code units; a search examines at most config listScanRows sessions per page, so a page may be short and still have a next one`,
    }),
  ),
} satisfies TProperties;

/** Filters shared by listing and stats. */
export const SessionFilterQuery = Type.Object(filterProperties, { additionalProperties: false });

/** GET /sessions/: the filters plus a page. */
export const SessionListQuery = Type.Object(
  {
    ...filterProperties,
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "page size; default config defaultPageSize" })),
    // A cursor holds the sort value of the page's last session: an agent_id is up to 1024 bytes.
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: "X-Next-Cursor of the previous page, asked for with the same sort and order" })),
    sort: Type.Optional(
      sessionSortSchema({
        description: "what the sessions are ordered by (default created_at); ties are broken by created_at, then id, in the same direction; agent_id sorts sessions without one as ''",
      }),
    ),
    order: Type.Optional(sortOrderSchema({ description: "desc (default) or asc" })),
  },
  { additionalProperties: false },
);

/** GET /sessions/{id}/events: seq range, types, order and a page. */
export const EventListQuery = Type.Object(
  {
    after_seq: Type.Optional(storedInteger({ description: "only events with a greater seq" })),
    to_seq: Type.Optional(storedInteger({ description: "only events with seq up to this" })),
    type: Type.Optional(stringOrList(EventTypeSchema)),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: "default 100" })),
    order: Type.Optional(Type.Union([Type.Literal("asc"), Type.Literal("desc")])),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: "X-Next-Cursor of the previous page" })),
  },
  { additionalProperties: false },
);

/** GET /sessions/{id}/state. */
export const StateQuery = Type.Object(
  { seq: Type.Optional(storedInteger({ minimum: 1, description: "default: the newest event" })) },
  { additionalProperties: false },
);

/** POST /sessions/{id}/events. */
export const EventBody = Type.Object(
  {
    type: EventTypeSchema,
    data: Type.Optional(jsonObject),
    version: Type.Optional(version),
  },
  { additionalProperties: false },
);

/** POST /sessions/{id}/tool-calls. */
export const ToolCallBody = Type.Object(
  {
    tool: Type.String({ minLength: 1, maxLength: 256 }),
    args: Type.Optional(Type.Unknown()),
    result: Type.Optional(Type.Unknown()),
    error: Type.Optional(
      Type.Object(
        { name: Type.String({ maxLength: 256 }), message: Type.String({ maxLength: 65_536 }), code: Type.Optional(Type.String({ maxLength: 256 })) },
        { additionalProperties: false, description: "The error the call threw; recorded in place of result." },
      ),
    ),
    duration_ms: Type.Optional(Type.Number({ minimum: 0, description: "The call's wall time." })),
  },
  { additionalProperties: false },
);

/** POST /sessions/{id}/iterations. */
export const IterationBody = Type.Object({ data: Type.Optional(jsonObject), version: Type.Optional(version) }, { additionalProperties: false });

/** POST /sessions/{id}/checkpoints. */
export const CheckpointBody = Type.Object(
  {
    label: Type.Optional(
      nullable(Type.String({ maxLength: 256, description: "A name to find it by (the CLI takes a label where it takes a checkpoint id). Not `latest`: that names the newest checkpoint." })),
    ),
    data: Type.Optional(jsonObject),
    version: Type.Optional(version),
    with_files: Type.Optional(
      Type.Boolean({
        default: false,
        description: "Also snapshot the session's workspace into the checkpoint (docs/checkpoints.md): `state.workspace`; restore puts it back, fork copies it. 413 `snapshot_too_large` past `maxSnapshotBytes`, nothing written.",
      }),
    ),
  },
  { additionalProperties: false },
);

/** POST …/checkpoints/{cid}/fork. */
export const ForkBody = Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) }, { additionalProperties: false });
/** Actions that take nothing but an optional expected version. */
export const VersionBody = Type.Object({ version: Type.Optional(version) }, { additionalProperties: false });
/** POST /sessions/{id}/recover: an optional expected version, and opt-in replay (docs/exec-sessions.md, recovery by replay). */
export const RecoverBody = Type.Object(
  {
    version: Type.Optional(version),
    replay: Type.Optional(
      Type.Boolean({ description: "python/typescript: replay the session's successful cells in order once it is back (repeats their side effects); default false" }),
    ),
  },
  { additionalProperties: false },
);
/** pause and crash. */
export const ReasonBody = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 4096 })), version: Type.Optional(version) },
  { additionalProperties: false },
);
/** POST /sessions/{id}/complete. */
export const CompleteBody = Type.Object({ result: Type.Optional(Type.Unknown()), version: Type.Optional(version) }, { additionalProperties: false });
/** POST /sessions/{id}/fail. */
export const FailBody = Type.Object(
  { error: Type.String({ minLength: 1, maxLength: 65_536 }), version: Type.Optional(version) },
  { additionalProperties: false },
);

/** POST /sessions/cleanup. */
export const CleanupBody = Type.Object(
  {
    older_than_days: Type.Number({ minimum: 0, description: "delete terminal sessions that ended longer ago than this" }),
    dry_run: Type.Optional(Type.Boolean({ description: "delete nothing: answer which sessions would be deleted (the first 1000, longest ended first)" })),
  },
  { additionalProperties: false },
);

/** POST /sessions/cleanup's answer: how many were deleted, or with dry_run, which would be. */
export const CleanupAnswer = Type.Object({
  deleted: Type.Integer({ description: "how many sessions were deleted (0 in a dry run)" }),
  would_delete: Type.Optional(
    Type.Array(Type.Object({ id: Type.String(), name: Type.String(), status: SessionStatusSchema, ended_at: Type.Union([Type.String(), Type.Null()]) }), {
      description: "dry run: the sessions a cleanup would delete now",
    }),
  ),
  more: Type.Optional(Type.Boolean({ description: "dry run: more would be deleted than would_delete lists" })),
});

/** POST /sessions/recover: which crashed sessions to recover. */
export const RecoverAllBody = Type.Object(
  {
    agent_id: Type.Optional(Type.String({ maxLength: 1024 })),
    user_id: Type.Optional(Type.String({ maxLength: 1024 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "default 100" })),
  },
  { additionalProperties: false },
);

// ---- responses ---------------------------------------------------------------------------

const nullableString = nullable(Type.String());

/** A session as answered (documentation; the server writes the JSON itself). */
export const SessionWire = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    kind: SessionKindSchema,
    type: nullableString,
    session_type: nullableString,
    mode: nullable(
      Type.String({
        description: "a live session's mode: its kind (shell, python, typescript, llm; seed 000), set at start; on an agent record, free text: the agent's role (seed 004)",
      }),
    ),
    agent_id: nullableString,
    user_id: nullableString,
    channel_id: nullableString,
    labels: Type.Record(Type.String(), Type.String()),
    task: nullableString,
    workspace: nullable(
      Type.String({
        description:
          "free text the caller keeps (seed 004's workspace); a live session started without it gets its own folder's path here. Where a live session's process runs is runtime_metadata.workspace, always its own folder",
      }),
    ),
    status: SessionStatusSchema,
    iterations: Type.Integer(),
    max_iterations: nullable(Type.Integer()),
    context: jsonObject,
    checkpoint: nullable(jsonObject),
    runtime_backend: RuntimeBackendSchema,
    runtime_metadata: jsonObject,
    server: Type.String(),
    result: Type.Unknown(),
    error: nullableString,
    metadata: jsonObject,
    parent: nullableString,
    created_at: Type.String({ format: "date-time" }),
    updated_at: Type.String({ format: "date-time" }),
    started_at: Type.String({ format: "date-time" }),
    ended_at: nullable(Type.String({ format: "date-time" })),
    last_activity_at: Type.String({ format: "date-time" }),
    last_seq: Type.Integer(),
    version: Type.Integer(),
    participants: Type.Array(
      Type.Object({ kind: ParticipantKindSchema, id: Type.String(), joined_at: Type.String({ format: "date-time" }) }),
      {
        description:
          "who took part (seed 002), in the order they joined: those the create named, its agent_id (ai) and user_id (human), then agent tokens that wrote and anyone who attached; see docs/api.md#participants",
      },
    ),
  },
  { $id: "Session", description: "a session; `session_type` repeats `type` for seed 003's clients" },
);

/** An event as answered. */
export const EventWire = Type.Object(
  { seq: Type.Integer(), ts: Type.String({ format: "date-time" }), type: Type.String(), data: jsonObject },
  { $id: "Event" },
);

/** A workspace snapshot as a checkpoint holds it. */
export const WorkspaceStateWire = Type.Object(
  {
    digest: Type.String({ pattern: "^sha256:[0-9a-f]{64}$", description: "the snapshot's manifest digest: the whole tree, content-addressed" }),
    files: Type.Integer({ minimum: 0, description: "regular files in it" }),
    bytes: Type.Integer({ minimum: 0, description: "their bytes, all together" }),
    left_out: Type.Optional(
      Type.Object(
        {
          count: Type.Integer({ minimum: 1, description: "entries left out, all together" }),
          paths: Type.Array(Type.String(), { maxItems: WORKSPACE_LEFT_OUT_PATHS, description: `the first of their paths, relative to the workspace: ${WORKSPACE_LEFT_OUT_PATHS} at most, and ${WORKSPACE_LEFT_OUT_BYTES / 1024} KiB of text` }),
        },
        { description: "present when the snapshot left entries out: FIFOs, sockets, devices, and names that are not UTF-8 (shown with U+FFFD), with all below them" },
      ),
    ),
  },
  { $id: "WorkspaceState", description: "A checkpoint `with_files`: the session's workspace files at that moment (docs/checkpoints.md)." },
);

const StateWire = Type.Object({
  context: jsonObject,
  status: SessionStatusSchema,
  iterations: Type.Integer(),
  workspace: Type.Optional(Type.Ref("WorkspaceState")),
});

/** A cell that failed when an interpreter was rebuilt. */
const FailedCellWire = Type.Object({
  seq: Type.Integer({ description: "its exec event's seq" }),
  status: Type.Union([Type.Literal("ok"), Type.Literal("error"), Type.Literal("timeout"), Type.Literal("interrupted")]),
  error: Type.String({ description: "the end of its stderr" }),
});

/** A cell a rebuild did not run. */
const SkippedCellWire = Type.Object({
  seq: Type.Integer(),
  reason: Type.Union([Type.Literal("failed"), Type.Literal("replay_false")], { description: "failed originally, or sent with replay: false" }),
});

/** A checkpoint as answered. */
export const CheckpointWire = Type.Object(
  {
    id: Type.String(),
    session_id: Type.String(),
    seq: Type.Integer(),
    label: nullableString,
    data: jsonObject,
    state: StateWire,
    created_at: Type.String({ format: "date-time" }),
    interpreter: Type.Optional(
      Type.Object(
        {
          kind: Type.String(),
          seq: Type.Integer({ description: "the cells are those of the history up to this seq (the checkpoint's)" }),
          cells: Type.Integer({ description: "cells in the interpreter's history then" }),
          replayable: Type.Integer({ description: "of those, the ones a restore or fork runs again" }),
          skipped: Type.Array(SkippedCellWire, { description: "the others: failed, or sent with replay: false" }),
        },
        { description: "python and typescript sessions: the interpreter state it holds (docs/checkpoints.md#interpreter-state)" },
      ),
    ),
  },
  { $id: "Checkpoint" },
);

/** GET /sessions/{id}/state. */
export const StateAtWire = Type.Object({ seq: Type.Integer(), ...StateWire.properties });

/** A recovered session and the checkpoint to resume from. */
export const RecoveryWire = Type.Object({
  session: Type.Ref("Session"),
  checkpoint: nullable(Type.Ref("Checkpoint")),
  /** With `replay: true`: what was replayed (see src/drivers/replay.ts). */
  replay: Type.Optional(Type.Object({}, { additionalProperties: true, description: "cells, replayed [{source_seq, exec_seq, exec_id, status}], stopped_at" })),
});

/** GET /sessions/{id}/metrics (seed 003's session metrics). */
export const MetricsWire = Type.Object({
  session_id: Type.String(),
  status: SessionStatusSchema,
  duration_ms: Type.Integer(),
  idle_ms: Type.Integer(),
  iterations: Type.Integer(),
  events_total: Type.Integer(),
  events_by_type: Type.Record(Type.String(), Type.Integer()),
  checkpoints: Type.Integer(),
});

/** GET /stats. */
export const StatsWire = Type.Object({
  total: Type.Integer(),
  by_status: Type.Record(Type.String(), Type.Integer()),
  by_mode: Type.Record(Type.String(), Type.Integer()),
  by_kind: Type.Record(Type.String(), Type.Integer()),
  success_rate: Type.Number(),
  average_iterations: Type.Number(),
  average_duration_ms: Type.Number(),
});

/** An exec's result, as answered and as its `exec` event holds it (src/drivers/exec-result.ts). */
export const ExecResultWire = Type.Object(
  {
    exec_id: Type.String(),
    seq: Type.Integer({ description: "the seq of its exec event" }),
    input: Type.String(),
    stdout: Type.String({ description: "UTF-8 text; U+FFFD where bytes were invalid or NUL (then stdout_base64 holds the exact bytes)" }),
    stderr: Type.String(),
    stdout_base64: Type.Optional(Type.String({ contentEncoding: "base64" })),
    stderr_base64: Type.Optional(Type.String({ contentEncoding: "base64" })),
    exit_code: nullable(Type.Integer({ description: "null when killed by a signal or the process died under it" })),
    status: Type.Union([Type.Literal("ok"), Type.Literal("error"), Type.Literal("timeout"), Type.Literal("interrupted")]),
    started_at: Type.String({ format: "date-time" }),
    duration_ms: Type.Number(),
    truncated: Type.Boolean({ description: "output was cut at maxExecOutputBytes (or to fit the event size limit)" }),
    process_exited: Type.Optional(Type.Literal(true, { description: "the session's process ended during this exec" })),
    pid: Type.Optional(nullable(Type.Integer({ description: "background: true only: the job's pid" }))),
    log_path: Type.Optional(Type.String({ description: "background: true only: the job's log file" })),
    replay: Type.Optional(Type.Literal(false, { description: "sent with replay: false: rebuilds of the interpreter never run it again" })),
    files_before: Type.Optional(Type.String({ description: "the workspace snapshot taken before it (start option undo_files): what its undo puts back" })),
    woke: Type.Optional(
      Type.Object(
        {
          hibernated_at: Type.String({ format: "date-time" }),
          slept_ms: Type.Number(),
          replayed: Type.Integer({ description: "cells run again to rebuild the interpreter" }),
          failed: Type.Array(FailedCellWire),
          skipped: Type.Array(SkippedCellWire),
          duration_ms: Type.Number({ description: "the wake, process start included" }),
        },
        { description: "present when this exec woke the session from hibernation (docs/checkpoints.md#hibernation)" },
      ),
    ),
  },
  { $id: "ExecResult" },
);

/** A rebuild of an interpreter (restore, undo, fork, wake): docs/checkpoints.md#interpreter-state. */
export const RebuildWire = Type.Object(
  {
    reason: Type.Union([Type.Literal("restore"), Type.Literal("undo"), Type.Literal("wake"), Type.Literal("fork")]),
    cells: Type.Integer({ description: "cells in the interpreter's history" }),
    replayed: Type.Integer({ description: "cells run again" }),
    failed: Type.Array(FailedCellWire, { description: "cells that did not end ok when run again" }),
    skipped: Type.Array(SkippedCellWire, { description: "cells not run: failed originally, or sent with replay: false" }),
    duration_ms: Type.Number(),
  },
  { description: "what rebuilding the interpreter did" },
);

/** POST /sessions/{id}/undo. */
export const UndoWire = Type.Object({
  seq: Type.Integer({ description: "the seq of the exec taken back" }),
  input: Type.String(),
  files: Type.Union([Type.Literal("restored"), Type.Literal("not_kept"), Type.Literal("off")], {
    description: "restored: the workspace is as before that exec; not_kept: no snapshot of then is kept; off: the session was not started with undo_files",
  }),
  rebuild: Type.Union([RebuildWire, Type.Null()], { description: "null when the session is hibernated: its wake rebuilds the interpreter" }),
});

/** The one error shape. */
export const ErrorWire = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: "stable; see docs/errors.md" }),
      message: Type.String(),
      field: Type.Optional(Type.String({ description: "the offending input field" })),
    }),
  },
  { $id: "Error", description: "every error has this shape" },
);

/** The schemas referenced by `$ref` above, registered once with app.addSchema. */
export const SHARED_SCHEMAS: readonly TObject[] = [SessionWire, EventWire, WorkspaceStateWire, CheckpointWire, ExecResultWire, ErrorWire];
