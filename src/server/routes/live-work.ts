import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { UNSTORED_TEXT } from "../../core/index.js";
import { ExecPolicySchema } from "../../drivers/index.js";
import { SessiondError } from "../../core/index.js";
import { SessionParams, UndoWire } from "../schemas.js";
import { SESSION, responses } from "../responses.js";
import { assertMayReadExecIo } from "../auth/index.js";
import { type ServerContext, sendJson, sendSession, sessionFor } from "../server-context.js";

/**
 * `/sessions/{id}/…` routes for interactive and long-running work: one exec by
 * id (status, stdin, interrupt, kill), the session's processes (list, kill one), its exec policy
 * and its lifetime; undo and hibernation (docs/checkpoints.md). Registered inside the exec action routes, so the same auth applies (roles in
 * config `execRoles`, admin by default) — but reading one exec's result follows the exec I/O rule
 * (`mayReadExecIo`), as every route showing exec input and output does. Pause and resume are the
 * generic session actions.
 */

const ExecParams = Type.Object(
  { ...SessionParams.properties, exec_id: Type.String({ minLength: 1, maxLength: 64, description: "an exec's id" }) },
  { additionalProperties: false },
);

const ProcessParams = Type.Object(
  { ...SessionParams.properties, pid: Type.Integer({ minimum: 1, description: "a pid from GET /sessions/{id}/processes" }) },
  { additionalProperties: false },
);

const StdinBody = Type.Object(
  {
    data: Type.String({ description: "bytes (UTF-8) written to the exec's terminal input; end lines with \\n" }),
    eof: Type.Optional(Type.Boolean({ description: "then end the input (Ctrl-D)" })),
  },
  // Keystrokes for a process, never stored: a NUL byte (Ctrl-@) is one a program may want.
  { additionalProperties: false, [UNSTORED_TEXT]: true },
);

const KillBody = Type.Object(
  { signal: Type.Optional(Type.String({ maxLength: 16, description: "SIGTERM (default), SIGKILL, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 or SIGUSR2" })) },
  { additionalProperties: false },
);

const PolicyBody = Type.Object({ exec_policy: ExecPolicySchema }, { additionalProperties: false });

const LifetimeBody = Type.Object({ extend_ms: Type.Integer({ minimum: 1, description: "how much later the session's maxLifetimeMs ends it" }) }, { additionalProperties: false });

const ExecState = Type.Object(
  {
    exec_id: Type.String(),
    state: Type.Union([Type.Literal("queued"), Type.Literal("running"), Type.Literal("finished")]),
    result: Type.Optional(Type.Ref("ExecResult", { description: "the exec result, once finished" })),
  },
  { additionalProperties: false },
);

const ProcessWire = Type.Object(
  {
    pid: Type.Integer(),
    pgid: Type.Integer(),
    ppid: Type.Integer(),
    state: Type.String(),
    command: Type.String(),
    exec_id: Type.Union([Type.String(), Type.Null()], { description: "the exec that started it with background: true" }),
    log_path: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);

export const liveWorkRoutes: FastifyPluginAsyncTypebox<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const { live } = ctx;
  const tags = ["live sessions"];

  app.get(
    "/execs/:exec_id",
    {
      schema: {
        operationId: "getExec",
        summary: "One exec: queued, running or finished (with its result)",
        description:
          "For execs sent with `wait: false`. 404 for an exec this server does not know (finished ones are kept for a while; all are in the logs). " +
          "For tokens that may read the session's exec input and output (docs/api.md, \"What a token may read\").",
        tags,
        params: ExecParams,
        response: responses({ 200: ExecState }),
      },
      config: { readsExecIo: true },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      assertMayReadExecIo(ctx.config, request.principal, session, "an exec's result");
      return sendJson(reply, JSON.stringify(await live.execStatus(session.id, request.params.exec_id)));
    },
  );

  app.post(
    "/execs/:exec_id/stdin",
    {
      schema: {
        operationId: "sendStdin",
        summary: "Send stdin to a running exec",
        description:
          "The exec must have been sent with `stdin: true`. 409 exec_not_running when it is queued, finished, reads /dev/null, or its command has ended (a shell drops what the command left unread: it never runs as commands). 429 while more than 1 MiB waits unread.",
        tags,
        params: ExecParams,
        body: StdinBody,
        response: responses({ 200: Type.Object({ exec_id: Type.String(), bytes: Type.Integer() }) }, [409]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendJson(reply, JSON.stringify(await live.stdin(session.id, request.params.exec_id, request.body.data, request.body.eof ?? false)));
    },
  );

  for (const how of ["interrupt", "kill"] as const) {
    app.post(
      `/execs/:exec_id/${how}`,
      {
        schema: {
          operationId: how === "interrupt" ? "interruptExec" : "killExec",
          summary: how === "interrupt" ? "Interrupt one running exec (Ctrl-C)" : "Kill one running exec (SIGKILL to its process group)",
          description: "Only that command: the session, its state and queued execs stay. Its result has status interrupted. 409 exec_not_running when it is queued or finished.",
          tags,
          params: ExecParams,
          response: responses({ 200: Type.Object({ exec_id: Type.String(), signalled: Type.Boolean() }) }, [409]),
        },
      },
      async (request, reply) => {
        const session = await sessionFor(ctx, request, request.params.id);
        return sendJson(reply, JSON.stringify(await live.signalExec(session.id, request.params.exec_id, how)));
      },
    );
  }

  app.get(
    "/processes",
    {
      schema: {
        operationId: "listProcesses",
        summary: "The session's processes besides its shell",
        description: "Background jobs (started with `background: true` or `&`) and whatever runs now; all are killed at stop.",
        tags,
        params: SessionParams,
        response: responses({ 200: Type.Array(ProcessWire) }, [409]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendJson(reply, JSON.stringify(await live.processes(session.id)));
    },
  );

  app.post(
    "/processes/:pid/kill",
    {
      schema: {
        operationId: "killProcess",
        summary: "Signal one of the session's processes",
        description: "Its whole process group when it leads one (a background job). 404 when the pid is not one of the session's.",
        tags,
        params: ProcessParams,
        body: Type.Optional(KillBody),
        response: responses({ 200: Type.Object({ pid: Type.Integer(), signal: Type.String() }) }, [409]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendJson(reply, JSON.stringify(await live.killProcess(session.id, request.params.pid, request.body?.signal)));
    },
  );

  app.put(
    "/exec-policy",
    {
      schema: {
        operationId: "setExecPolicy",
        summary: "Set what an exec sent while another runs does",
        description: "queue (default: in order), reject (409 session_busy) or interrupt (the running one). Kept in runtime_metadata.exec_policy.",
        tags,
        params: SessionParams,
        body: PolicyBody,
        response: responses({ 200: PolicyBody }, [409]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendJson(reply, JSON.stringify(await live.setExecPolicy(session.id, request.body.exec_policy)));
    },
  );

  app.post(
    "/lifetime",
    {
      schema: {
        operationId: "extendLifetime",
        summary: "Extend the session's lifetime",
        description: "Moves the end set by maxLifetimeMs out by extend_ms (at most maxLifetimeMs per call). Time spent paused does not count either.",
        tags,
        params: SessionParams,
        body: LifetimeBody,
        response: responses({ 200: Type.Object({ lifetime_ends_at: Type.Union([Type.String(), Type.Null()]) }) }, [409]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendJson(reply, JSON.stringify(await live.extendLifetime(session.id, request.body.extend_ms)));
    },
  );

  app.post(
    "/undo",
    {
      schema: {
        operationId: "undo",
        summary: "Step a python or typescript session back one exec",
        description:
          "Its interpreter rebuilt without its latest cell (the other cells run again in a fresh process), and its workspace as it was before that cell when the session was started with `undo_files: true`. " +
          "An `undo` event records it. 409 when there is nothing to undo, while an exec runs or waits, for a shell or llm session, or unless the session is active.",
        tags,
        params: SessionParams,
        response: responses({ 200: UndoWire }, [409]),
      },
    },
    async (request, reply) => {
      const session = await sessionFor(ctx, request, request.params.id);
      return sendJson(reply, JSON.stringify(await live.undo(session.id)));
    },
  );

  app.post(
    "/hibernate",
    {
      schema: {
        operationId: "hibernate",
        summary: "Hibernate a live session now",
        description:
          "Its state kept (an interpreter's cells, a shell's cwd and environment), its process stopped: no process, no terminal held. Its next exec or attach wakes it (the exec's answer has `woke`). " +
          "Active or paused (a paused one wakes once resumed). For an admin or the agent that owns the session. 409 without a live process here, or while an exec runs or waits. An `hibernate` event records it.",
        tags,
        params: SessionParams,
        response: responses({ 200: SESSION }, [409]),
      },
      config: { ownerAction: true },
    },
    async (request, reply) => {
      if (request.principal.role !== "admin" && request.principal.role !== "agent") {
        throw new SessiondError("forbidden", { reason: "hibernating a session needs an admin token or the token of the agent that owns it" });
      }
      // An agent token finds its own sessions only.
      const session = await sessionFor(ctx, request, request.params.id);
      return sendSession(reply, await live.hibernate(session.id));
    },
  );
};
