import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { type Static, Type } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from "fastify";
import { type Config, type Session, SessiondError, errors } from "../../core/index.js";
import { type LiveInfo, LiveInfoSchema, LiveStartSchema, type StartInput, assertModeEnabled } from "../../drivers/index.js";
import { type Principal, assertMayReadExecIo, assertOwnFields, canSee, ownerDefaults } from "../auth/index.js";
import { NODES_MISSING_HEADER } from "../cluster/index.js";
import { SessionParams } from "../schemas.js";
import { HEADER, SESSION, json, responses } from "../responses.js";
import { type ServerContext, sendJson, sendSession, sessionFor } from "../server-context.js";
import { liveWorkRoutes } from "./live-work.js";

/**
 * Live execution sessions over HTTP: seed 000's routes exactly (`/session/start`,
 * `/session/{id}/exec|stop|logs`, `/session/list`) and the canonical ones under `/sessions/{id}`
 * (exec, interrupt, stop). Off unless ENABLE_SESSIONS or `executionModes` turns a mode on, and for
 * the roles in config `execRoles` only (admin by default) — except the routes that only read what
 * execs took and printed (`readsExecIo`), which follow the one rule for that, `mayReadExecIo`.
 */

declare module "fastify" {
  interface FastifyContextConfig {
    /**
     * The route only reads exec input and output: its access is `mayReadExecIo` (checked by the
     * handler), not config `execRoles`, so that every route showing exec I/O answers alike.
     */
    readsExecIo?: boolean;
    /**
     * The route is a lifecycle action on the session (hibernate): an admin, or the agent that owns
     * the session (checked by the handler), whatever config `execRoles` says.
     */
    ownerAction?: boolean;
  }
}

/** @throws forbidden unless the principal's role is in config `execRoles` */
export function assertExecRole(config: Pick<Config, "execRoles">, principal: Principal): void {
  if (!config.execRoles.includes(principal.role)) {
    throw new SessiondError("forbidden", { reason: `live execution sessions need a token with role ${config.execRoles.join(" or ")} (config execRoles)` });
  }
}

/** The fields of a start besides the kind: the session's name and server, and the process options. */
const startOptions = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  server: Type.Optional(
    Type.String({ minLength: 1, maxLength: 64, description: "where it runs: `local` (default) or `ssh` (shell only); `ssm` answers 501 target_unavailable (docs/exec-sessions.md#targets)" }),
  ),
  ...LiveStartSchema.properties,
};

/** POST /session/start: seed 000's body. */
export const SeedStartBody = Type.Object(
  {
    mode: Type.String({ minLength: 1, maxLength: 64, description: "shell, python, typescript or llm (those enabled); the other fields are the options of `POST /sessions` with `kind`" }),
    ...startOptions,
  },
  { additionalProperties: false },
);

/** An exec: seed 000's `input`, or `command`. */
export const ExecBody = Type.Object(
  {
    input: Type.Optional(Type.String({ description: "the command text" })),
    command: Type.Optional(Type.String({ description: "an alias of input" })),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, description: "default config execTimeoutMs" })),
    stdin: Type.Optional(Type.Boolean({ description: "the command reads the terminal: send it input with POST …/execs/{exec_id}/stdin (default: /dev/null); shell sessions only" })),
    background: Type.Optional(Type.Boolean({ description: "shell sessions: start it as a background job: the result comes at once with its pid and log_path (400 naming background for other kinds)" })),
    wait: Type.Optional(Type.Boolean({ description: "false: answer 202 {exec_id, state} at once; GET …/execs/{exec_id} for the result (default true)" })),
    replay: Type.Optional(
      Type.Boolean({ description: "false: a rebuild of the interpreter (restore, undo, fork, wake, recovery) never runs this cell again, and reports it as skipped (default true)" }),
    ),
  },
  { additionalProperties: false },
);

const LogsQuery = Type.Object(
  {
    since: Type.Optional(Type.String({ maxLength: 64, description: "execs after this seq, or at/after this ISO time" })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "default 100" })),
  },
  { additionalProperties: false },
);


const EXEC_RESULT = json(Type.Ref("ExecResult"), "the exec's result, once it has finished");
const EXEC_SUBMITTED = json(
  Type.Object({ exec_id: Type.String(), state: Type.Union([Type.Literal("queued"), Type.Literal("running"), Type.Literal("finished")]) }),
  "`wait: false`: the exec was accepted; GET /sessions/{id}/execs/{exec_id} for its result",
);

/** The command of an exec body. @throws validation naming `input` */
function commandOf(body: Static<typeof ExecBody>): string {
  if (body.input !== undefined && body.command !== undefined && body.input !== body.command) {
    throw errors.validation("input", "give input or command, not both");
  }
  const command = body.input ?? body.command;
  if (command === undefined) throw errors.validation("input", "required (or command)");
  return command;
}

/** Starts a live session for a request: the mode checked, the owner fields of an agent token filled in. */
export async function startLive(ctx: ServerContext, request: FastifyRequest, input: Omit<StartInput, "kind"> & { kind: unknown }, field: string): Promise<Session> {
  assertExecRole(ctx.config, request.principal);
  // An ssh target is reached from the server's own network, with a key file the server reads:
  // an operator's power, not an agent's (docs/security.md).
  if (input.server === "ssh" && request.principal.role !== "admin") {
    throw new SessiondError("forbidden", { reason: "ssh targets need an admin token: the server connects from its own network, with key files it can read" }, { field: "server" });
  }
  const { kind } = input;
  // POST /sessions takes `agent` in the same field: the refusal names it too.
  const alsoAccepted = field === "kind" ? { alsoAccepted: "agent (a tracked run with no process, the default)" } : {};
  assertModeEnabled(ctx.config, kind, { field, available: ctx.live.kinds(), ...alsoAccepted });
  assertOwnFields(request.principal, input);
  return ctx.live.start({ ...ownerDefaults(request.principal), ...input, kind });
}

/** An onRequest hook refusing principals whose role may not use live sessions (config `execRoles`). */
function execRoleHook(config: Config): onRequestHookHandler {
  return (request, _reply, done) => {
    if (request.routeOptions.config?.readsExecIo === true || request.routeOptions.config?.ownerAction === true) return done();
    try {
      assertExecRole(config, request.principal);
      done();
    } catch (err) {
      done(err as Error);
    }
  };
}

/** `/session`: seed 000's routes, as written. */
export const seedSessionRoutes: FastifyPluginAsyncTypebox<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const { live, config } = ctx;
  app.addHook("onRequest", execRoleHook(config));
  const tags = ["live sessions"];

  app.post(
    "/start",
    {
      schema: {
        operationId: "startLiveSession",
        summary: "Start a live session (seed 000)",
        description:
          "`mode` is the session kind. A mode's own options sit beside it: `interpreter` (python), `model`, `base_url`, `api_key` (llm); another mode's option is a 400 naming it. " +
          "400 listing the enabled modes when `mode` is unknown or off; 400 naming `api_key` for an llm session with no key for its endpoint; 429 past maxLiveSessions; 501 `target_unavailable` for `server: \"ssm\"`.",
        tags,
        body: SeedStartBody,
        response: responses({ 201: json(Type.Object({ id: Type.String(), startedAt: Type.String({ format: "date-time" }) }), "the session started", { Location: HEADER.location }) }, [409, 422, 501]),
      },
    },
    async (request, reply) => {
      const { mode, ...rest } = request.body;
      const session = await startLive(ctx, request, { ...rest, kind: mode }, "mode");
      reply.header("location", `/sessions/${encodeURIComponent(session.id)}`);
      return sendJson(reply, JSON.stringify({ id: session.id, startedAt: session.created_at }), 201);
    },
  );

  app.get(
    "/list",
    {
      schema: {
        operationId: "listLiveSessions",
        summary: "List the live sessions (seed 000)",
        description:
          "Each is seed 000's `{id, mode, server, state}` — `state` what the session keeps across execs (its process's status, cwd, paused, running and queued execs) — followed by more fields. An agent token sees its own sessions only. In a cluster, every live node's sessions: a node that did not answer in time is named in `x-sessiond-nodes-missing`.",
        tags,
        response: responses({ 200: json(Type.Array(LiveInfoSchema), "the live sessions of this server (of every node, in a cluster)") }),
      },
    },
    async (request, reply) => {
      let infos = live.list();
      if (request.principal.role === "agent") {
        const visible = await Promise.all(infos.map(async (info) => canSee(request.principal, await ctx.manager.get(info.session_id))));
        infos = infos.filter((_, i) => visible[i]);
      }
      if (ctx.peers) {
        // Each node runs its own processes: the others answer for theirs.
        const { parts, missing } = await ctx.peers.gather<LiveInfo[]>(request, "/session/list");
        const seen = new Set(infos.map((info) => info.session_id));
        for (const info of parts.flat()) {
          if (seen.has(info.session_id)) continue;
          seen.add(info.session_id);
          infos.push(info);
        }
        if (missing.length > 0) reply.header(NODES_MISSING_HEADER, missing.join(","));
      }
      return sendJson(reply, JSON.stringify(infos));
    },
  );

  app.post(
    "/:id/exec",
    {
      schema: {
        operationId: "execLive",
        summary: "Run a command (seed 000)",
        description: "Execs queue in order behind a running one. 409 unless the session is live.",
        tags,
        params: SessionParams,
        body: ExecBody,
        response: responses({ 200: EXEC_RESULT, 202: EXEC_SUBMITTED }, [409]),
      },
    },
    async (request, reply) => execRoute(ctx, request, request.params.id, request.body, reply),
  );

  app.post(
    "/:id/stop",
    {
      schema: {
        operationId: "stopLiveSession",
        summary: "Stop a live session (seed 000)",
        description: "Kills its process group; the session becomes completed. 409 when it has already ended.",
        tags,
        params: SessionParams,
        response: responses({ 200: SESSION }, [409, 422]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendSession(reply, await live.stop(session.id));
    },
  );

  app.get(
    "/:id/logs",
    {
      config: { readsExecIo: true },
      schema: {
        operationId: "liveLogs",
        summary: "Past execs (seed 000)",
        description: "Oldest first; `since` is a seq or an ISO time. For tokens that may read the session's exec input and output (docs/api.md, \"What a token may read\").",
        tags,
        params: SessionParams,
        querystring: LogsQuery,
        response: responses({ 200: Type.Array(Type.Ref("ExecResult")) }),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      assertMayReadExecIo(ctx.config, request.principal, session, "an exec log");
      const { since, limit } = request.query;
      return sendJson(reply, JSON.stringify(await live.logs(session.id, { ...(since !== undefined ? { since } : {}), ...(limit !== undefined ? { limit } : {}) })));
    },
  );
};

/** `/sessions/{id}/exec|interrupt|stop`: the canonical routes. */
export const execActionRoutes: FastifyPluginAsyncTypebox<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const { live, config } = ctx;
  app.addHook("onRequest", execRoleHook(config));
  const tags = ["live sessions"];
  await app.register(liveWorkRoutes, { ctx });

  app.post(
    "/exec",
    {
      schema: {
        operationId: "exec",
        summary: "Run a command in a live session",
        description:
          "An exec sent while another runs follows the session's exec_policy: queue (in order), reject (409 session_busy) or interrupt. 409 unless the session is live. `wait: false` answers 202 at once.",
        tags,
        params: SessionParams,
        body: ExecBody,
        response: responses({ 200: EXEC_RESULT, 202: EXEC_SUBMITTED }, [409]),
      },
    },
    async (request, reply) => execRoute(ctx, request, request.params.id, request.body, reply),
  );

  app.post(
    "/interrupt",
    {
      schema: {
        operationId: "interrupt",
        summary: "Interrupt the running exec (Ctrl-C)",
        tags,
        params: SessionParams,
        response: responses({ 200: Type.Object({ interrupted: Type.Boolean(), exec_id: Type.Union([Type.String(), Type.Null()]) }) }, [409]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendJson(reply, JSON.stringify(await live.interrupt(session.id)));
    },
  );

  app.post(
    "/stop",
    {
      schema: {
        operationId: "stop",
        summary: "Stop a live session",
        description: "Kills its process group; the session becomes completed. 409 when it has already ended.",
        tags,
        params: SessionParams,
        response: responses({ 200: SESSION }, [409, 422]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendSession(reply, await live.stop(session.id));
    },
  );
};

async function execRoute(ctx: ServerContext, request: FastifyRequest, ref: string, body: Static<typeof ExecBody>, reply: FastifyReply) {
  const command = commandOf(body);
  const session = await sessionFor(ctx, request, ref);
  const options = {
    ...(body.timeout_ms !== undefined ? { timeout_ms: body.timeout_ms } : {}),
    ...(body.stdin !== undefined ? { stdin: body.stdin } : {}),
    ...(body.background !== undefined ? { background: body.background } : {}),
    ...(body.replay !== undefined ? { replay: body.replay } : {}),
  };
  const submitted = await ctx.live.submit(session.id, command, options);
  if (body.wait === false) {
    // The result is fetched later (GET …/execs/{exec_id}); a failure then is in its state.
    submitted.done.catch(() => {});
    return sendJson(reply, JSON.stringify({ exec_id: submitted.exec_id, state: submitted.state }), 202);
  }
  return sendJson(reply, JSON.stringify(await submitted.done));
}
