import { subscribe } from "node:diagnostics_channel";
import { appendFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { afterAll, afterEach } from "vitest";
import { type OpenApiDoc, ResponseChecker } from "./response-check.js";

/**
 * A vitest setup file: every Fastify app a test builds in this process (Fastify announces each
 * one on its `fastify.initialization` diagnostics channel) gets an onSend hook that checks each
 * answer against the app's own /openapi.json (response-check.ts). A mismatch fails the test
 * that caused it, after it ends. Nothing of this is in the server: production never pays for it.
 * Streams hijack their reply after the checks that can refuse them: their status and content type
 * are checked as they write their head, their body (SSE messages) is not. Servers in child
 * processes (the CLI suites) are not checked.
 */

const mismatches: string[] = [];
/** Answers checked in this file (SESSIOND_CONTRACT_REPORT names a file to add the count to, for a run's total). */
let checked = 0;

/**
 * Checkers by the routes they were built for. The suites build hundreds of apps per file from the
 * same route schemas; generating each one's document and compiling its validators again was a
 * fifth of a server suite's time. The document is a function of the routes (method, url, and the
 * schema and config it is made from: openapi.ts), so apps whose routes are the same share one.
 */
const checkers = new Map<string, ResponseChecker>();

subscribe("fastify.initialization", (message) => {
  const app = (message as { fastify: FastifyInstance }).fastify;
  const routes: string[] = [];
  app.addHook("onRoute", (route) => {
    const config = route.config as { public?: unknown; documentedInput?: unknown } | undefined;
    routes.push(JSON.stringify([route.method, route.url, route.schema, config?.public, config?.documentedInput]));
  });
  let checker: ResponseChecker | null | undefined;
  // The document is complete once the app is ready; an app without one (a test's own fake server) is not checked.
  const checkerOf = (): ResponseChecker | null => {
    if (checker !== undefined) return checker;
    const swagger = (app as unknown as { swagger?: () => OpenApiDoc }).swagger;
    if (typeof swagger !== "function") return (checker = null);
    const key = routes.join("\n");
    checker = checkers.get(key) ?? new ResponseChecker(swagger.call(app));
    checkers.set(key, checker);
    return checker;
  };
  const record = (answer: Parameters<ResponseChecker["check"]>[0]) => {
    const current = checkerOf();
    if (current === null || answer.method === "HEAD") return;
    checked++;
    mismatches.push(...current.check(answer));
  };
  // A hijacked reply (SSE) never reaches onSend: look at the head it writes itself.
  app.addHook("preHandler", (request, reply, done) => {
    const raw = reply.raw;
    const writeHead = raw.writeHead.bind(raw) as (...args: unknown[]) => typeof raw;
    (raw as unknown as { writeHead: (...args: unknown[]) => typeof raw }).writeHead = (...args: unknown[]) => {
      if (reply.sent && !request.raw.headers.upgrade) {
        const headers = args.find((a): a is Record<string, unknown> => typeof a === "object" && a !== null && !Array.isArray(a));
        const type = headers?.["content-type"] ?? headers?.["Content-Type"];
        record({ method: request.method, route: request.routeOptions.url, status: Number(args[0]), contentType: typeof type === "string" ? type : undefined, body: undefined });
      }
      return writeHead(...args);
    };
    done();
  });
  app.addHook("onSend", (request, reply, payload, done) => {
    try {
      const body = typeof payload === "string" ? payload : Buffer.isBuffer(payload) ? payload.toString("utf8") : payload == null ? "" : undefined;
      const contentType = reply.getHeader("content-type");
      record({ method: request.method, route: request.routeOptions.url, status: reply.statusCode, contentType: typeof contentType === "string" ? contentType : undefined, body });
    } catch (err) {
      mismatches.push(`the response check failed: ${(err as Error).stack ?? String(err)}`);
    }
    done(null, payload);
  });
});

afterAll(() => {
  const report = process.env.SESSIOND_CONTRACT_REPORT;
  if (report && checked > 0) appendFileSync(report, `${checked}\n`);
});

afterEach(() => {
  const found = mismatches.splice(0);
  if (found.length > 0) {
    throw new Error(`${found.length} answer(s) differ from /openapi.json:\n${[...new Set(found)].slice(0, 20).join("\n")}`);
  }
});
